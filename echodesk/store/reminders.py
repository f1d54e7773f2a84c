"""Reminders (``#remind``) and snoozed tickets: what is due, claimed exactly once.

Every process runs the same scheduled job; the claim is one ``UPDATE ...
WHERE <still due> RETURNING``, so of several processes (on any machines) that
find the same row due, exactly one gets it back: the row changes under the
first, and the others' ``WHERE`` no longer matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from echodesk.store.models import Reminder, Ticket

#: Rows one claim takes at most (the rest wait for the next run).
CLAIM_BATCH = 500


@dataclass(frozen=True)
class Due:
    """A reminder this process claimed: mail it."""

    id: int
    ticket_id: int
    agent_id: int
    due_at: datetime
    text: str


def add(
    session: Session, ticket_id: int, agent_id: int, at: datetime, text: str, now: datetime
) -> None:
    session.execute(
        insert(Reminder).values(
            ticket_id=ticket_id, agent_id=agent_id, due_at=at, text=text[:1000], created_at=now
        )
    )


def _claim(
    session: Session, model: Any, still_due: Any, order: Any, values: dict[str, Any], *cols: Any
) -> list[Any]:
    """``UPDATE model SET values WHERE still_due RETURNING cols`` for the oldest due rows:
    the ``WHERE`` is evaluated again under the row lock, so each row is one caller's."""
    oldest = select(model.id).where(still_due).order_by(order).limit(CLAIM_BATCH)
    return list(
        session.execute(
            update(model)
            .where(model.id.in_(oldest.scalar_subquery()), still_due)
            .values(**values)
            .returning(*cols)
            .execution_options(synchronize_session=False)
        )
    )


def claim_reminders(session: Session, now: datetime) -> list[Due]:
    """Mark due reminders sent and return them: each to one caller only."""
    due = Reminder.sent_at.is_(None) & (Reminder.due_at <= now)
    rows = _claim(
        session,
        Reminder,
        due,
        Reminder.due_at,
        {"sent_at": now},
        Reminder.id,
        Reminder.ticket_id,
        Reminder.agent_id,
        Reminder.due_at,
        Reminder.text,
    )
    return [Due(*row) for row in rows]


def wake_due(session: Session, now: datetime) -> list[int]:
    """Wake the tickets whose snooze is over; their ids, each to one caller only."""
    due = Ticket.snoozed_until.is_not(None) & (Ticket.snoozed_until <= now)
    rows = _claim(session, Ticket, due, Ticket.snoozed_until, {"snoozed_until": None}, Ticket.id)
    return [int(ticket_id) for (ticket_id,) in rows]


def wake(session: Session, ticket_ids: Sequence[int]) -> list[int]:
    """Wake these tickets now (their customer wrote); the ids that were asleep."""
    if not ticket_ids:
        return []
    rows = session.execute(
        update(Ticket)
        .where(Ticket.id.in_(list(ticket_ids)), Ticket.snoozed_until.is_not(None))
        .values(snoozed_until=None)
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
    return [int(ticket_id) for (ticket_id,) in rows]


__all__ = ["Due", "add", "claim_reminders", "wake", "wake_due"]
