"""Customers in the store: the people who write to the support address."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from echodesk.store.models import Customer, Ticket
from echodesk.store.writes import insert_ignore


def get(session: Session, customer_id: int | None) -> Customer | None:
    return session.get(Customer, customer_id) if customer_id else None


def unresolved_count(session: Session, customer_id: int, statuses: Sequence[str]) -> int:
    """How many of the customer's live tickets are in ``statuses``."""
    return int(
        session.scalar(
            select(func.count()).where(
                Ticket.customer_id == customer_id,
                Ticket.status.in_(statuses),
                Ticket.merged_into_id.is_(None),
            )
        )
        or 0
    )


def mark_bounced(session: Session, email: str, detail: str, now: datetime) -> None:
    """Record that mail to ``email`` bounced (or drew a complaint): Echo stops writing to it.

    The address gets a customer row if it had none (a CC'd person, say), so the
    mark holds whoever the address belongs to.
    """
    row = {"email": email, "display_name": "", "first_seen_at": now, "last_seen_at": now}
    insert_ignore(session, Customer, [row], ["email"])
    session.execute(
        update(Customer).where(Customer.email == email).values(bounced_at=now, bounce_detail=detail)
    )


__all__ = ["Customer", "get", "mark_bounced"]
