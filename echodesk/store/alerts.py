"""Incidents told to the admins, in ``alerts``: each at most once, and its recovery once.

Every process may run the alert job; the database decides which one speaks.
Opening an incident inserts its row (or reopens a cleared one) and returns
True only to the process whose statement changed the row; clearing works the
same way. So an incident seen by ten processes is mailed once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from echodesk.store.models import Alert


def open_incident(session: Session, key: str, detail: str, now: datetime) -> bool:
    """Record the incident; True when this call opened it (the caller tells the admins)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    row = {"key": key, "detail": detail, "opened_at": now, "cleared_at": None}
    insert = module.insert(Alert.__table__).values(**row)
    stmt = insert.on_conflict_do_nothing(index_elements=["key"]).returning(Alert.key)
    if session.execute(stmt).first() is not None:
        return True
    reopened = session.execute(
        update(Alert)
        .where(Alert.key == key, Alert.cleared_at.is_not(None))
        .values(detail=detail, opened_at=now, cleared_at=None)
        .returning(Alert.key)
    )
    return reopened.first() is not None


def close_incident(session: Session, key: str, now: datetime) -> bool:
    """Clear the incident; True when this call cleared it (the caller tells of recovery)."""
    cleared = session.execute(
        update(Alert)
        .where(Alert.key == key, Alert.cleared_at.is_(None))
        .values(cleared_at=now)
        .returning(Alert.key)
    )
    return cleared.first() is not None


def open_incidents(session: Session) -> dict[str, str]:
    """Incidents not cleared yet: their details, by key."""
    rows = session.execute(select(Alert.key, Alert.detail).where(Alert.cleared_at.is_(None)))
    return {key: detail for key, detail in rows}
