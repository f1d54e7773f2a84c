"""Ticket and message queries the desk needs: lookups by id, number and participant.

Pure data access; which ticket a message belongs to is decided in
:mod:`echodesk.desk.threader`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from echodesk.store.models import (
    Agent,
    Message,
    MessageReference,
    Ticket,
    TicketParticipant,
    TicketTag,
)
from echodesk.store.upsert import insert_ignore


def next_number(session: Session) -> int:
    """A new ticket number: unique even with concurrent workers; gaps are possible."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(text("SELECT nextval('ticket_number_seq')")).scalar_one())
    stmt = text(
        "UPDATE counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value"
    )
    return int(session.execute(stmt).scalar_one())


def by_number(session: Session, number: int) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.number == number)).first()


def resolve_merged(session: Session, ticket: Ticket) -> Ticket:
    """Follow ``merged_into`` links to the ticket that lives on (cycle-safe)."""
    seen = {ticket.id}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen:
        target = session.get(Ticket, ticket.merged_into_id)
        if target is None:
            break
        seen.add(target.id)
        ticket = target
    return ticket


def tickets_by_message_ids(session: Session, ids: Sequence[str]) -> dict[str, int]:
    """Map each stored Message-ID among ``ids`` to its ticket id."""
    if not ids:
        return {}
    found: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        stmt = select(Message.message_id, Message.ticket_id).where(Message.message_id.in_(chunk))
        found.update({mid: tid for mid, tid in session.execute(stmt)})
    return found


def message_by_id(session: Session, message_id: str) -> Message | None:
    return session.scalars(select(Message).where(Message.message_id == message_id)).first()


def tickets_referencing(session: Session, message_id: str) -> list[int]:
    """Tickets holding a message that names ``message_id`` in References/In-Reply-To.

    Oldest message first: these are replies that arrived before their parent.
    """
    stmt = (
        select(Message.ticket_id, func.min(Message.id).label("first"))
        .join(MessageReference, MessageReference.message_pk == Message.id)
        .where(MessageReference.ref_id == message_id)
        .group_by(Message.ticket_id)
        .order_by(text("first"))
    )
    return [tid for tid, _ in session.execute(stmt)]


def is_participant(session: Session, ticket_id: int, email: str) -> bool:
    """True if ``email`` is the ticket's customer, a CC'd address or an active agent."""
    key = email.strip().lower()
    stmt = select(TicketParticipant.email).where(
        TicketParticipant.ticket_id == ticket_id, TicketParticipant.email == key
    )
    if session.execute(stmt).first() is not None:
        return True
    agent = select(Agent.id).where(Agent.email == key, Agent.active.is_(True))
    return session.execute(agent).first() is not None


def add_participants(session: Session, ticket_id: int, emails: Iterable[str], role: str) -> None:
    for email in dict.fromkeys(e.strip().lower() for e in emails if e and "@" in e):
        insert_ignore(
            session,
            TicketParticipant,
            {"ticket_id": ticket_id, "email": email, "role": role},
            ["ticket_id", "email"],
        )


def add_references(session: Session, message_pk: int, ids: Iterable[str]) -> None:
    rows = [{"message_pk": message_pk, "ref_id": rid} for rid in dict.fromkeys(ids)]
    if rows:
        session.execute(insert(MessageReference), rows)


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
