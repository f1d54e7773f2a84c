"""Customers' satisfaction ratings: one per ticket, changeable for a while.

:func:`give` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <still
changeable>``, so two presses at the same instant never fail and a rating
past its change period stays as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from echodesk.store.models import Rating

#: What :func:`give` did.
RECORDED, CHANGED, SETTLED = "recorded", "changed", "settled"


@dataclass(frozen=True)
class Given:
    rating: str
    comment: str
    rated_at: datetime
    changed_at: datetime


def of(session: Session, ticket_id: int) -> Given | None:
    row = session.get(Rating, ticket_id)
    return Given(row.rating, row.comment, row.rated_at, row.changed_at) if row else None


def give(
    session: Session, ticket_id: int, rating: str, comment: str, now: datetime, change_days: int
) -> str:
    """Record the rating (or change it, within ``change_days`` of the first); what happened."""
    table: Table = Rating.__table__  # type: ignore[assignment]
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(table).values(
        ticket_id=ticket_id, rating=rating, comment=comment, rated_at=now, changed_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["ticket_id"],
        set_={"rating": rating, "comment": comment, "changed_at": now},
        where=table.c.rated_at > now - timedelta(days=change_days),
    ).returning(table.c.rated_at)
    row = session.execute(stmt).first()
    if row is None:
        return SETTLED
    first = row[0].replace(tzinfo=now.tzinfo) if row[0].tzinfo is None else row[0]
    return RECORDED if first >= now else CHANGED


def of_tickets(session: Session, ticket_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Each rated ticket's rating, comment and when it was last given (ISO)."""
    if not ticket_ids:
        return {}
    stmt = select(Rating).where(Rating.ticket_id.in_(list(ticket_ids)))
    return {
        r.ticket_id: {"rating": r.rating, "comment": r.comment, "at": r.changed_at.isoformat()}
        for r in session.scalars(stmt)
    }


def counts(session: Session) -> dict[str, int]:
    stmt = select(Rating.rating, func.count()).group_by(Rating.rating)
    return {rating: int(n) for rating, n in session.execute(stmt)}


__all__ = ["CHANGED", "RECORDED", "SETTLED", "Given", "counts", "give", "of", "of_tickets"]
