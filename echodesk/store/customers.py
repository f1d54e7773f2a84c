"""Customer rows: one per lower-cased address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.store.models import Customer
from echodesk.store.upsert import insert_ignore


def upsert(session: Session, email: str, display_name: str, seen_at: datetime) -> Customer:
    """The customer for ``email`` (lower-cased), created if new; seen times updated."""
    key = email.strip().lower()
    insert_ignore(
        session,
        Customer,
        {
            "email": key,
            "display_name": display_name,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
        },
        ["email"],
    )
    customer = session.scalars(select(Customer).where(Customer.email == key)).one()
    if display_name and not customer.display_name:
        customer.display_name = display_name
    if seen_at > customer.last_seen_at:
        customer.last_seen_at = seen_at
    if seen_at < customer.first_seen_at:
        customer.first_seen_at = seen_at
    return customer


def by_email(session: Session, email: str) -> Customer | None:
    return session.scalars(select(Customer).where(Customer.email == email.strip().lower())).first()
