"""Customers in the store: the people who write to the support address."""

from __future__ import annotations

from sqlalchemy.orm import Session

from echodesk.store.models import Customer


def get(session: Session, customer_id: int | None) -> Customer | None:
    return session.get(Customer, customer_id) if customer_id else None


__all__ = ["Customer", "get"]
