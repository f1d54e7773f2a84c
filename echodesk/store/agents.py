"""The agents table: add, list, disable, find. Who may act on tickets.

An agent is found by the address they act from; only active agents count.
Addresses are kept lower-cased, as every address Echo compares.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.errors import NotFoundError, StoreError
from echodesk.store.models import Agent, AgentAlias

ROLES = ("ops", "superadmin")


def _address(email: str) -> str:
    key = email.strip().lower()
    if "@" not in key or any(c.isspace() for c in key) or key.startswith("@"):
        raise StoreError(f"{email!r} is not a mail address")
    return key


def add(session: Session, email: str, name: str, role: str = "ops") -> tuple[Agent, bool]:
    """Create the agent, or update and re-activate an existing one; (agent, created)."""
    key = _address(email)
    if session.scalars(select(AgentAlias).where(AgentAlias.email == key)).first():
        raise StoreError(f"{key} is already another agent's alias")
    if role not in ROLES:
        raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    agent = session.scalars(select(Agent).where(Agent.email == key)).first()
    if agent is not None:
        agent.name = name or agent.name
        agent.role = role
        agent.active = True
        return agent, False
    agent = Agent(email=key, name=name, role=role, active=True)
    session.add(agent)
    session.flush()
    return agent, True


def disable(session: Session, email: str) -> Agent:
    agent = by_email(session, email, active_only=False)
    if agent is None:
        raise NotFoundError(f"no agent {email}")
    agent.active = False
    return agent


def add_alias(session: Session, email: str, alias: str) -> Agent:
    """Let the agent also act from ``alias`` (an address of theirs)."""
    agent = by_email(session, email, active_only=False)
    if agent is None:
        raise NotFoundError(f"no agent {email}")
    key = _address(alias)
    owner = by_email(session, key, active_only=False)
    if owner is not None and owner.id != agent.id:
        raise StoreError(f"{key} already belongs to agent {owner.email}")
    if owner is None:
        session.add(AgentAlias(agent_id=agent.id, email=key))
    return agent


def aliases_of(session: Session, agent_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in agent_ids}
    stmt = select(AgentAlias.agent_id, AgentAlias.email).order_by(AgentAlias.email)
    for agent_id, email in session.execute(stmt.where(AgentAlias.agent_id.in_(list(agent_ids)))):
        out[agent_id].append(email)
    return out


def by_email(session: Session, email: str, *, active_only: bool = True) -> Agent | None:
    """The agent who owns this address, as their own address or as an alias."""
    key = email.strip().lower()
    alias = select(AgentAlias.agent_id).where(AgentAlias.email == key).scalar_subquery()
    stmt = select(Agent).where((Agent.email == key) | (Agent.id == alias))
    if active_only:
        stmt = stmt.where(Agent.active.is_(True))
    return session.scalars(stmt).first()


def every(session: Session) -> Sequence[Agent]:
    return session.scalars(select(Agent).order_by(Agent.email)).all()


def addresses(session: Session) -> set[str]:
    """Every agent's own address, active or not (they are never copied on customer mail)."""
    return set(session.scalars(select(Agent.email)))


def get(session: Session, agent_id: int) -> Agent | None:
    return session.get(Agent, agent_id)


__all__ = [
    "Agent",
    "add",
    "add_alias",
    "addresses",
    "aliases_of",
    "by_email",
    "disable",
    "every",
    "get",
]
