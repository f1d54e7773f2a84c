"""The agents table: add, list, disable, find. Who may act on tickets.

An agent is found by the address they act from; only active agents count.
Addresses are kept lower-cased, as every address Echo compares.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.errors import NotFoundError, StoreError
from echodesk.store.models import Agent

ROLES = ("ops", "superadmin")


def add(session: Session, email: str, name: str, role: str = "ops") -> tuple[Agent, bool]:
    """Create the agent, or update and re-activate an existing one; (agent, created)."""
    key = email.strip().lower()
    if "@" not in key or any(c.isspace() for c in key):
        raise StoreError(f"{email!r} is not a mail address")
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


def by_email(session: Session, email: str, *, active_only: bool = True) -> Agent | None:
    stmt = select(Agent).where(Agent.email == email.strip().lower())
    if active_only:
        stmt = stmt.where(Agent.active.is_(True))
    return session.scalars(stmt).first()


def every(session: Session) -> Sequence[Agent]:
    return session.scalars(select(Agent).order_by(Agent.email)).all()
