"""Set-at-a-time reads for a batch of incoming messages.

The pipeline decides a whole batch in memory; these queries fetch, in a few
round trips, everything those decisions can depend on: which Message-IDs are
already stored (and where), which stored messages name the batch's ids as
parents, the tickets involved, their participants and the active agents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from echodesk.store.models import (
    Agent,
    AgentAlias,
    Customer,
    InboundSpool,
    Message,
    MessageReference,
    Outbox,
    Ticket,
    TicketParticipant,
)

_CHUNK = 500


T = TypeVar("T", str, int)


def chunks(values: Iterable[T]) -> Iterable[list[T]]:
    """The distinct values in lists short enough for one ``IN (...)``."""
    items = list(dict.fromkeys(values))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@dataclass
class StoredMessage:
    message_id: str
    ticket_id: int
    content_hash: str
    direction: str


@dataclass
class TicketRow:
    id: int
    number: int
    status: str
    subject: str
    merged_into_id: int | None
    updated_at: datetime


#: A spool row in one of these states was processed once: the same message again is a duplicate.
_DONE_STATES = frozenset(("processed", "quarantined", "dropped", "deleted"))


def processed_spool_keys(session: Session, message_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(Message-ID, content hash) of rows already processed: a redelivery is a duplicate.

    The query names the Message-IDs alone and the states are sorted out here:
    given ``state IN (...)`` too, a planner may take the queue's index on
    ``state`` and walk every processed row of the archive, a cost that grows
    with every message ever received; by Message-ID it reads the few rows of
    each id, however large the spool.
    """
    out: set[tuple[str, str]] = set()
    for chunk in chunks(mid for mid in message_ids if mid):
        stmt = select(InboundSpool.message_id, InboundSpool.content_hash, InboundSpool.state).where(
            InboundSpool.message_id.in_(chunk)
        )
        out.update((mid, h) for mid, h, state in session.execute(stmt) if state in _DONE_STATES)
    return out


def stored_messages(session: Session, message_ids: Sequence[str]) -> dict[str, StoredMessage]:
    out: dict[str, StoredMessage] = {}
    for chunk in chunks(message_ids):
        stmt = select(
            Message.message_id, Message.ticket_id, Message.content_hash, Message.direction
        ).where(Message.message_id.in_(chunk))
        for mid, tid, h, direction in session.execute(stmt):
            out[mid] = StoredMessage(mid, tid, h, direction)
    return out


def replies_naming(session: Session, message_ids: Sequence[str]) -> dict[str, list[int]]:
    """For each id, the tickets of stored messages that name it as a parent, oldest first."""
    out: dict[str, list[int]] = {}
    for chunk in chunks(message_ids):
        first = func.min(Message.id)
        stmt = (
            select(MessageReference.ref_id, Message.ticket_id, first)
            .join(Message, Message.id == MessageReference.message_pk)
            .where(MessageReference.ref_id.in_(chunk))
            .group_by(MessageReference.ref_id, Message.ticket_id)
            .order_by(MessageReference.ref_id, first)
        )
        for ref_id, tid, _ in session.execute(stmt):
            out.setdefault(ref_id, []).append(tid)
    return out


def _ticket_rows(session: Session, where: ColumnElement[bool]) -> list[TicketRow]:
    stmt = select(
        Ticket.id,
        Ticket.number,
        Ticket.status,
        Ticket.subject,
        Ticket.merged_into_id,
        Ticket.updated_at,
    ).where(where)
    return [TicketRow(*row) for row in session.execute(stmt)]


def tickets(
    session: Session, ids: Iterable[int] = (), numbers: Iterable[int] = ()
) -> dict[int, TicketRow]:
    """Tickets by id or number, plus every ticket they were merged into."""
    found: dict[int, TicketRow] = {}
    for chunk in chunks(numbers):
        found.update((t.id, t) for t in _ticket_rows(session, Ticket.number.in_(chunk)))
    wanted = set(ids)
    while True:
        wanted |= {t.merged_into_id for t in found.values() if t.merged_into_id}
        missing = wanted - set(found)
        if not missing:
            return found
        for chunk in chunks(missing):
            rows = _ticket_rows(session, Ticket.id.in_(chunk))
            found.update((t.id, t) for t in rows)
        wanted -= {i for i in missing if i not in found}  # ids that do not exist


def participants(session: Session, ticket_ids: Iterable[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for chunk in chunks(ticket_ids):
        stmt = select(TicketParticipant.ticket_id, TicketParticipant.email).where(
            TicketParticipant.ticket_id.in_(chunk)
        )
        for tid, email in session.execute(stmt):
            out.setdefault(tid, set()).add(email)
    return out


def internal_notes(session: Session, ticket_ids: Iterable[int]) -> dict[int, list[str]]:
    """The text of each ticket's internal notes (not drafts, not Echo's bounce notes)."""
    out: dict[int, list[str]] = {}
    for chunk in chunks(ticket_ids):
        stmt = select(Message.ticket_id, Message.body_text).where(
            Message.ticket_id.in_(chunk),
            Message.direction == "internal",
            Message.kind == "note",  # a draft is meant to be sent; a bounce note is Echo's
        )
        for tid, body in session.execute(stmt):
            out.setdefault(tid, []).append(body)
    return out


def active_agent_emails(session: Session) -> set[str]:
    """Every address an active agent sends from: their own and their aliases."""
    own = session.scalars(select(Agent.email).where(Agent.active.is_(True)))
    aliases = session.scalars(
        select(AgentAlias.email)
        .join(Agent, Agent.id == AgentAlias.agent_id)
        .where(Agent.active.is_(True))
    )
    return {*own, *aliases}


@dataclass(frozen=True)
class AgentRow:
    id: int
    email: str
    name: str


def active_agents(session: Session) -> dict[str, AgentRow]:
    """Active agents by every address they send from (own address and aliases)."""
    rows = {
        a.id: AgentRow(a.id, a.email, a.name)
        for a in session.execute(
            select(Agent.id, Agent.email, Agent.name).where(Agent.active.is_(True))
        )
    }
    out = {row.email: row for row in rows.values()}
    for agent_id, email in session.execute(select(AgentAlias.agent_id, AgentAlias.email)):
        if agent_id in rows:
            out[email] = rows[agent_id]
    return out


@dataclass
class OutboxRef:
    """An outbox row a bounce may be about."""

    id: int
    ticket_id: int | None
    rcpt: str
    message_id: str
    state: str


def outbox_rows(
    session: Session, ids: Iterable[int], message_ids: Iterable[str]
) -> tuple[dict[int, OutboxRef], dict[str, list[OutboxRef]]]:
    """Outbox rows by id (VERP addresses) and by Message-ID (returned originals)."""
    columns = (Outbox.id, Outbox.ticket_id, Outbox.rcpt, Outbox.message_id, Outbox.state)
    by_id: dict[int, OutboxRef] = {}
    by_mid: dict[str, list[OutboxRef]] = {}
    for chunk in chunks(ids):
        for row in session.execute(select(*columns).where(Outbox.id.in_(chunk))):
            by_id[row[0]] = OutboxRef(*row)
    for names in chunks(message_ids):
        stmt = select(*columns).where(Outbox.message_id.in_(names)).order_by(Outbox.id)
        for row in session.execute(stmt):
            by_mid.setdefault(row[3], []).append(OutboxRef(*row))
    return by_id, by_mid


def recent_outbox_counts(
    session: Session, rcpts: Iterable[str], purpose: str, since: datetime
) -> dict[str, int]:
    """Rows of one purpose queued to each address since ``since`` (rate limits)."""
    out: dict[str, int] = {}
    for chunk in chunks(rcpts):
        stmt = (
            select(Outbox.rcpt, func.count())
            .where(Outbox.rcpt.in_(chunk), Outbox.purpose == purpose, Outbox.created_at >= since)
            .group_by(Outbox.rcpt)
        )
        out.update((rcpt, int(n)) for rcpt, n in session.execute(stmt))
    return out


def tickets_opened_between(
    session: Session, emails: Iterable[str], since: datetime, until: datetime
) -> dict[str, list[datetime]]:
    """When each customer address opened tickets between ``since`` and ``until``.

    A ticket's ``created_at`` is the time of the mail that opened it, so this
    counts in the mail's own time (flood limits, ``customer_tickets_24h``).
    """
    out: dict[str, list[datetime]] = {}
    for chunk in chunks(emails):
        stmt = (
            select(Customer.email, Ticket.created_at)
            .join(Ticket, Ticket.customer_id == Customer.id)
            .where(
                Customer.email.in_(chunk),
                Ticket.created_at >= since,
                Ticket.created_at <= until,
            )
        )
        for email, created in session.execute(stmt):
            out.setdefault(email, []).append(created)
    return out
