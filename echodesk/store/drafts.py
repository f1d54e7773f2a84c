"""Held drafts: replies the collision guard keeps until the agent says ``#send``.

One per agent and ticket: holding another replaces it. Expired drafts are
claimed by a ``DELETE ... RETURNING``, so of several processes that find the
same draft old, exactly one tells its agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from echodesk.store.models import HeldDraft


@dataclass(frozen=True)
class Held:
    ticket_id: int
    agent_id: int
    text: str
    lines: tuple[str, ...]
    reason: str
    created_at: datetime


def _held(row: HeldDraft) -> Held:
    lines = tuple(line for line in row.lines.split("\n") if line)
    return Held(row.ticket_id, row.agent_id, row.body, lines, row.reason, row.created_at)


def hold(
    session: Session,
    ticket_id: int,
    agent_id: int,
    text: str,
    lines: tuple[str, ...],
    reason: str,
    now: datetime,
) -> None:
    """Keep the agent's draft for the ticket (a draft held before is replaced)."""
    drop(session, ticket_id, agent_id)
    session.add(
        HeldDraft(
            ticket_id=ticket_id,
            agent_id=agent_id,
            body=text,
            lines="\n".join(lines),
            reason=reason[:500],
            created_at=now,
        )
    )
    session.flush()


def take(session: Session, ticket_id: int, agent_id: int) -> Held | None:
    """Remove the agent's held draft for the ticket and return it (None: none held)."""
    row = session.get(HeldDraft, (ticket_id, agent_id), with_for_update=True)
    if row is None:
        return None
    found = _held(row)
    session.delete(row)
    session.flush()
    return found


def drop(session: Session, ticket_id: int, agent_id: int) -> bool:
    """Forget the agent's held draft for the ticket; whether there was one."""
    gone = session.execute(
        delete(HeldDraft)
        .where(HeldDraft.ticket_id == ticket_id, HeldDraft.agent_id == agent_id)
        .returning(HeldDraft.ticket_id)
    )
    return gone.first() is not None


def expire(session: Session, before: datetime) -> list[Held]:
    """Remove the drafts held since before ``before``; each to one caller only."""
    rows = session.execute(
        delete(HeldDraft)
        .where(HeldDraft.created_at < before)
        .returning(
            HeldDraft.ticket_id,
            HeldDraft.agent_id,
            HeldDraft.body,
            HeldDraft.lines,
            HeldDraft.reason,
            HeldDraft.created_at,
        )
        .execution_options(synchronize_session=False)
    )
    return [
        Held(t, a, text, tuple(x for x in lines.split("\n") if x), reason, at)
        for t, a, text, lines, reason, at in rows
    ]


__all__ = ["Held", "drop", "expire", "hold", "take"]
