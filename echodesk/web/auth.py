"""Who is looking: a signed-in agent (emailed one-time link), an access proxy, or a token.

Nothing in the archive is visible to an anonymous visitor. Three ways in:

* the embedded default: an agent asks for a link at /signin; a one-time
  token (15 minutes, single use) is mailed through the outbox to their
  registered address; opening it and pressing "Sign in" (a POST, so a mail
  scanner that fetches links does not use it up) sets a signed, HttpOnly,
  SameSite=Lax session cookie (Secure when the archive is served over HTTPS);
* behind an access proxy (off unless configured): a header carrying the
  authenticated email, trusted only from the proxy's own addresses;
* for scripts, the JSON API also takes ``Authorization: Bearer <api_token>``.

Every request checks the agent again: a disabled agent is out at once.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from flask import abort, g, request, session
from sqlalchemy import select

from echodesk.config import Settings
from echodesk.store.db import Database
from echodesk.store.models import Agent, AgentAlias

READERS = ("ops", "superadmin")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Viewer:
    """The signed-in agent (or the API token, which has no agent)."""

    agent_id: int | None
    email: str
    name: str
    via: str  # session | proxy | token


def _agent(db: Database, email: str | None = None, agent_id: int | None = None) -> Agent | None:
    """An active agent allowed to read, by id or by any of their addresses."""
    with db.reading() as s:
        if agent_id is not None:
            agent = s.get(Agent, agent_id)
        elif email:
            key = email.strip().lower()
            alias = select(AgentAlias.agent_id).where(AgentAlias.email == key).scalar_subquery()
            agent = s.scalars(
                select(Agent).where((Agent.email == key) | (Agent.id == alias))
            ).first()
        else:
            agent = None
        if agent is None or not agent.active or agent.role not in READERS:
            return None
        s.expunge(agent)
        return agent


def agent_by_email(db: Database, email: str) -> Agent | None:
    return _agent(db, email=email)


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(settings: Settings, address: IPAddress | None) -> bool:
    """Whether ``address`` is one of the configured proxies."""
    if address is None:
        return False
    networks = [ipaddress.ip_network(p, strict=False) for p in settings.web_trusted_proxies]
    return any(address in n for n in networks)


def _from_proxy(settings: Settings) -> str | None:
    if not settings.web_trusted_header:
        return None
    email = request.headers.get(settings.web_trusted_header, "")
    if not email:
        return None
    return email if _trusted(settings, _address(request.remote_addr or "")) else None


def client(settings: Settings) -> str:
    """Who is asking, for per-client limits: the peer's address (an IPv6 client by its /64).

    Behind the configured proxies (``web_trusted_proxies``) the peer is the
    proxy, so the client is the nearest address in ``X-Forwarded-For`` that is
    not one of them; from anyone else the header is ignored, so a client cannot
    name itself afresh on every request to escape a limit.
    """
    text = request.remote_addr or "unknown"
    if _trusted(settings, _address(text)):
        hops = ",".join(request.headers.getlist("X-Forwarded-For")).split(",")
        for hop in reversed([h.strip() for h in hops if h.strip()]):
            if not _trusted(settings, _address(hop)):
                text = hop[:100]
                break
    peer = _address(text)
    if isinstance(peer, ipaddress.IPv6Address):
        if peer.ipv4_mapped is not None:
            return str(peer.ipv4_mapped)
        return str(ipaddress.ip_network(f"{peer}/64", strict=False))
    return str(peer) if peer is not None else text


def _from_token(settings: Settings) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not settings.api_token or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), settings.api_token.encode())


def identify(settings: Settings, db: Database, *, api: bool) -> Viewer | None:
    """Who this request is from, or None (anonymous)."""
    if api and _from_token(settings):
        return Viewer(None, "api-token", "API token", "token")
    proxied = _from_proxy(settings)
    if proxied:
        agent = _agent(db, email=proxied)
        return Viewer(agent.id, agent.email, agent.name, "proxy") if agent else None
    agent_id = session.get("agent_id")
    if isinstance(agent_id, int):
        agent = _agent(db, agent_id=agent_id)
        if agent is not None:
            return Viewer(agent.id, agent.email, agent.name, "session")
        session.clear()
    return None


def sign_in(agent_id: int) -> None:
    session.clear()
    session["agent_id"] = agent_id
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse a form post whose token is not this session's (400)."""
    sent = request.form.get("csrf", "")
    mine = session.get("csrf")
    if not isinstance(mine, str) or not hmac.compare_digest(sent.encode(), mine.encode()):
        abort(400, "The form expired. Reload the page and try again.")


def viewer() -> Viewer:
    found: Any = g.get("viewer")
    assert isinstance(found, Viewer)
    return found
