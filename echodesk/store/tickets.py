"""Ticket and message queries the desk needs: lookups by id, number and participant.

Pure data access; which ticket a message belongs to is decided in
:mod:`echodesk.desk.threader`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from echodesk.store.models import (
    Message,
    Ticket,
    TicketParticipant,
    TicketTag,
)
from echodesk.store.upsert import insert_ignore


def by_number(session: Session, number: int) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.number == number)).first()


def add_participants(session: Session, ticket_id: int, emails: Iterable[str], role: str) -> None:
    for email in dict.fromkeys(e.strip().lower() for e in emails if e and "@" in e):
        insert_ignore(
            session,
            TicketParticipant,
            {"ticket_id": ticket_id, "email": email, "role": role},
            ["ticket_id", "email"],
        )


def move_messages(session: Session, from_ticket: int, to_ticket: int) -> int:
    """Re-home every message of one ticket in another (used when tickets join)."""
    result = session.execute(
        update(Message).where(Message.ticket_id == from_ticket).values(ticket_id=to_ticket)
    )
    for participant in session.scalars(
        select(TicketParticipant).where(TicketParticipant.ticket_id == from_ticket)
    ):
        add_participants(session, to_ticket, [participant.email], participant.role)
    for tag in session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == from_ticket)):
        insert_ignore(
            session, TicketTag, {"ticket_id": to_ticket, "tag": tag}, ["ticket_id", "tag"]
        )
    return int(getattr(result, "rowcount", 0))


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
