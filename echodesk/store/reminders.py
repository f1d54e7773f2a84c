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

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from echodesk.store.models import Reminder, Ticket


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


def claim_reminders(session: Session, now: datetime, limit: int = 500) -> list[Due]:
    """Mark due reminders sent and return them: each to one caller only."""
    due = (
        session.query(Reminder.id)
        .filter(Reminder.sent_at.is_(None), Reminder.due_at <= now)
        .order_by(Reminder.due_at)
        .limit(limit)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Reminder)
        .where(Reminder.id.in_(due), Reminder.sent_at.is_(None))
        .values(sent_at=now)
        .returning(
            Reminder.id, Reminder.ticket_id, Reminder.agent_id, Reminder.due_at, Reminder.text
        )
        .execution_options(synchronize_session=False)
    )
    return [Due(*row) for row in rows]


def wake_due(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Wake the tickets whose snooze is over; their ids, each to one caller only."""
    due = (
        session.query(Ticket.id)
        .filter(Ticket.snoozed_until.is_not(None), Ticket.snoozed_until <= now)
        .order_by(Ticket.snoozed_until)
        .limit(limit)
        .scalar_subquery()
    )
    rows = session.execute(
        update(Ticket)
        .where(Ticket.id.in_(due), Ticket.snoozed_until.is_not(None), Ticket.snoozed_until <= now)
        .values(snoozed_until=None)
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
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
