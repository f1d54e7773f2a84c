"""Signing in by an emailed one-time link, and signing out.

The answer to "send me a link" is the same whether or not the address
belongs to an agent, so the form tells a stranger nothing. The link lands on
a page with a button: only the POST it sends uses the token up, so a mail
filter that opens links to scan them cannot spend it.

Without a limit, anyone could make Echo mail an agent link after link. So an
address gets at most :data:`PER_ADDRESS` links an hour and a client (its
address, see :func:`echodesk.web.auth.client`) may ask :data:`PER_CLIENT` times
an hour; beyond that the form answers exactly as before and nothing is sent
or stored. The counts live in the database (:mod:`echodesk.store.ratelimit`),
so the limits hold across gunicorn workers and machines.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from echodesk.store import ratelimit
from echodesk.store import signin as tokens
from echodesk.store.models import Agent
from echodesk.web.auth import agent_by_email, check_csrf, client, csrf_token, sign_in

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

log = logging.getLogger(__name__)

#: Sign-in links mailed to one agent address per hour (a module constant, not a setting).
PER_ADDRESS = 5
#: Link requests one client may make per hour, whatever the addresses.
PER_CLIENT = 20


def _safe_next(value: str | None, fallback: str) -> str:
    """Only a path on this site (never another host) to go to after signing in."""
    if not value:
        return fallback
    parsed = urlparse(value)
    if parsed.scheme or parsed.netloc or not value.startswith("/") or value.startswith("//"):
        return fallback
    return value


def register(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db
    home = f"{bp.name}.tickets"

    @bp.route("/signin", methods=["GET", "POST"])
    def signin() -> str | Response:
        if request.method == "GET":
            session["next"] = _safe_next(request.args.get("next"), "")
            return render_template(
                "signin.html",
                csrf=csrf_token(),
                sent=False,
                proxy=bool(settings.web_trusted_header),
            )
        check_csrf()
        email = request.form.get("email", "").strip()[:320]
        agent = agent_by_email(db, email) if "@" in email else None
        send_link(agent, client(settings))
        return render_template("signin.html", csrf=csrf_token(), sent=True, proxy=False)

    def send_link(agent: Agent | None, asker: str) -> None:
        """Mail the agent a link, if this client and that address are within their limits."""
        with db.transaction() as s:
            if not ratelimit.take(s, f"signin client {asker}", PER_CLIENT):
                log.warning("sign-in links: %s asked more than %d times an hour", asker, PER_CLIENT)
                return
            if agent is None:
                return
            if not ratelimit.take(s, f"signin address {agent.email.lower()}", PER_ADDRESS):
                log.warning("sign-in links: %s had %d this hour", agent.email, PER_ADDRESS)
                return
            token = tokens.create(s, agent.id)
            link = f"{settings.public_web_url}/signin/{token}"
            web.send_link(s, agent.email, link)

    @bp.route("/signin/<token>", methods=["GET", "POST"])
    def signin_link(token: str) -> str | Response | tuple[str, int]:
        if request.method == "GET":
            return render_template("signin_link.html", csrf=csrf_token(), token=token)
        check_csrf()
        with db.transaction() as s:
            agent_id = tokens.redeem(s, token)
        if agent_id is None:
            text = "This link has expired, was used already, or is not valid. Ask for a new one."
            return render_template(
                "error.html", title="Link not valid", text=text, signin=True
            ), 400
        target = _safe_next(session.get("next"), url_for(home))
        sign_in(agent_id)
        return redirect(target)  # type: ignore[return-value]

    @bp.post("/signout")
    def signout() -> Response:
        check_csrf()
        session.clear()
        return redirect(url_for(f"{bp.name}.signin"))  # type: ignore[return-value]
