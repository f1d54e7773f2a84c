"""Reading tickets for listings: by number, their tags and message counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from echodesk.store.models import (
    Message,
    Ticket,
    TicketTag,
)


def by_number(session: Session, number: int) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.number == number)).first()


def tags_of(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {tid: [] for tid in ticket_ids}
    if ticket_ids:
        stmt = (
            select(TicketTag.ticket_id, TicketTag.tag)
            .where(TicketTag.ticket_id.in_(list(ticket_ids)))
            .order_by(TicketTag.tag)
        )
        for tid, tag in session.execute(stmt):
            out[tid].append(tag)
    return out


def message_counts(session: Session, ticket_ids: Sequence[int]) -> dict[int, int]:
    if not ticket_ids:
        return {}
    stmt = (
        select(Message.ticket_id, func.count())
        .where(Message.ticket_id.in_(list(ticket_ids)))
        .group_by(Message.ticket_id)
    )
    return {tid: int(n) for tid, n in session.execute(stmt)}


def numbers_of(session: Session, ticket_ids: Iterable[int]) -> dict[int, int]:
    """Ticket numbers by id."""
    wanted = sorted(set(ticket_ids))
    if not wanted:
        return {}
    stmt = select(Ticket.id, Ticket.number).where(Ticket.id.in_(wanted))
    return {tid: number for tid, number in session.execute(stmt)}
