"""SLA clocks in the store: a ticket's facts, its clock row, the targets met, the due sweep.

The desk decides what the clocks say (``desk/tickets/sla.py``); this module
reads what that decision needs (:func:`facts`), keeps the rows
(:func:`load`, :func:`save`) and hands the sweep the rows with something
due. :func:`claim_due` locks them and skips rows another process holds
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time),
so each warning and breach notice is sent by one process only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from echodesk.statuses import UNRESOLVED
from echodesk.store.models import Counter, Message, SlaResult, Ticket, TicketSla, TicketTag

#: Tickets one query reads at most (IN lists stay short on both databases).
CHUNK = 1000
#: A clock's stage: its warning went out, its breach notice went out.
WARNED, BREACHED = 1, 2
#: Due rows one sweep transaction takes at most: each notice is a composed mail
#: (a few ms), and a short transaction keeps the SQLite writer free for SMTP.
SWEEP_BATCH = 100


@dataclass(frozen=True)
class Facts:
    """What a ticket's SLA clocks depend on, as the store holds it now."""

    ticket_id: int
    status: str
    status_changed_at: datetime | None
    created_at: datetime
    priority: str
    tags: frozenset[str]
    #: The first and the latest reply to the customer (None: nobody answered yet).
    first_reply_at: datetime | None
    last_reply_at: datetime | None
    #: The first customer message after the latest reply (None: nothing unanswered).
    waiting_since: datetime | None
    assignee_id: int | None


@dataclass
class Clocks:
    """A ticket's clock row (see :class:`~echodesk.store.models.TicketSla`)."""

    ticket_id: int
    policy: str
    running_since: datetime | None = None
    response_target: str = ""
    response_from: datetime | None = None
    response_spent: float = 0.0
    response_warn_at: datetime | None = None
    response_due: datetime | None = None
    response_stage: int = 0
    resolution_open: bool = False
    resolution_spent: float = 0.0
    resolution_warn_at: datetime | None = None
    resolution_due: datetime | None = None
    resolution_stage: int = 0
    alert_at: datetime | None = None


@dataclass(frozen=True)
class Met:
    """A target met: in time or not."""

    ticket_id: int
    policy: str
    target: str
    started_at: datetime | None
    met_at: datetime
    in_time: bool


_COLUMNS = [f.name for f in dataclasses.fields(Clocks)]


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def facts(session: Session, ticket_ids: Iterable[int]) -> list[Facts]:
    """The facts of each live (not merged away) ticket among ``ticket_ids``."""
    found: list[Facts] = []
    for chunk in _chunks(ticket_ids):
        tags: dict[int, set[str]] = {}
        for ticket_id, tag in session.execute(
            select(TicketTag.ticket_id, TicketTag.tag).where(TicketTag.ticket_id.in_(chunk))
        ):
            tags.setdefault(ticket_id, set()).add(tag)
        replies = {row[0]: (row[1], row[2]) for row in session.execute(_replies(chunk))}
        waiting: dict[int, datetime] = {tid: at for tid, at in session.execute(_waiting(chunk))}
        rows = session.execute(
            select(
                Ticket.id,
                Ticket.status,
                Ticket.status_changed_at,
                Ticket.created_at,
                Ticket.priority,
                Ticket.assignee_id,
            ).where(Ticket.id.in_(chunk), Ticket.merged_into_id.is_(None))
        )
        for tid, status, changed, created, priority, assignee in rows:
            first, last = replies.get(tid, (None, None))
            found.append(
                Facts(
                    tid, status, changed, created, priority, frozenset(tags.get(tid, ())),
                    first, last, waiting.get(tid), assignee,
                )
            )  # fmt: skip
    return found


def _replies(chunk: list[int]) -> Select[int, datetime, datetime]:
    return (
        select(Message.ticket_id, func.min(Message.created_at), func.max(Message.created_at))
        .where(Message.ticket_id.in_(chunk), Message.kind == "reply")
        .group_by(Message.ticket_id)
    )


def _waiting(chunk: list[int]) -> Select[int, datetime]:
    """The first customer message after the ticket's latest reply, per ticket."""
    reply = aliased(Message)
    last_reply = (
        select(func.max(reply.created_at))
        .where(reply.ticket_id == Message.ticket_id, reply.kind == "reply")
        .scalar_subquery()
    )
    at = func.coalesce(Message.sent_at, Message.created_at)
    return (
        select(Message.ticket_id, func.min(at))
        .where(
            Message.ticket_id.in_(chunk),
            Message.kind == "customer",
            or_(last_reply.is_(None), Message.created_at > last_reply),
        )
        .group_by(Message.ticket_id)
    )


def load(session: Session, ticket_ids: Iterable[int]) -> dict[int, Clocks]:
    """The clock rows of these tickets, locked until the transaction ends."""
    rows: dict[int, Clocks] = {}
    for chunk in _chunks(ticket_ids):
        stmt = (
            select(TicketSla)
            .where(TicketSla.ticket_id.in_(chunk))
            .order_by(TicketSla.ticket_id)
            .with_for_update()
        )
        for row in session.scalars(stmt):
            rows[row.ticket_id] = _clocks(row)
    return rows


def _clocks(row: TicketSla) -> Clocks:
    return Clocks(**{name: getattr(row, name) for name in _COLUMNS})


def save(session: Session, new: Sequence[Clocks], changed: Sequence[Clocks]) -> None:
    """Insert the new rows, update the changed ones."""
    if new:
        session.execute(insert(TicketSla), [_values(c) for c in new])
    if changed:  # one executemany, by primary key
        session.execute(update(TicketSla), [_values(c) for c in changed])


def _values(clocks: Clocks) -> dict[str, Any]:
    """The row's columns (``dataclasses.asdict`` would deep-copy every moment)."""
    return {name: getattr(clocks, name) for name in _COLUMNS}


def drop(session: Session, ticket_ids: Sequence[int]) -> None:
    """Forget the clocks of tickets no policy covers any more."""
    for chunk in _chunks(ticket_ids):
        session.execute(delete(TicketSla).where(TicketSla.ticket_id.in_(chunk)))


def record(session: Session, met: Sequence[Met]) -> None:
    if met:
        session.execute(insert(SlaResult), [dataclasses.asdict(m) for m in met])


def claim_due(session: Session, now: datetime) -> list[Clocks]:
    """Rows with a warning or a breach due, locked; rows another process holds are skipped."""
    stmt = (
        select(TicketSla)
        .where(TicketSla.alert_at <= now)
        .order_by(TicketSla.ticket_id)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    return [_clocks(row) for row in session.scalars(stmt)]


def changed_since(session: Session, since: datetime) -> list[int]:
    """Live tickets changed since ``since``: the sweep brings their clocks up to date."""
    stmt = select(Ticket.id).where(Ticket.updated_at >= since, Ticket.merged_into_id.is_(None))
    return list(session.scalars(stmt))


def unresolved(session: Session, after_id: int, limit: int) -> list[int]:
    """Ids of live unresolved tickets after ``after_id``, in order (policy changes walk them)."""
    stmt = (
        select(Ticket.id)
        .where(
            Ticket.id > after_id,
            Ticket.status.in_(UNRESOLVED),
            Ticket.merged_into_id.is_(None),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


#: The ``counters`` row holding a digest of the policies the clocks were computed under.
POLICIES_COUNTER = "sla_policies"


def policies_digest(session: Session) -> int | None:
    row = session.get(Counter, POLICIES_COUNTER)
    return None if row is None else int(row.value)


def mark_policies(session: Session, digest: int) -> None:
    """Note that every clock now follows the policies of ``digest`` (an upsert: two
    processes noting it at once both succeed)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(Counter.__table__).values(name=POLICIES_COUNTER, value=digest)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={"value": stmt.excluded.value})
    )


def clocks_of(session: Session, ticket_id: int) -> Clocks | None:
    row = session.get(TicketSla, ticket_id)
    return _clocks(row) if row is not None else None


def marks(session: Session, ticket_ids: Sequence[int], now: datetime) -> dict[int, dict[str, Any]]:
    """What the archive and ``tickets`` show of each ticket's SLA: the policy, the nearest
    running target and its due time, and whether a target is breached."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ticket_ids):
        for row in session.scalars(select(TicketSla).where(TicketSla.ticket_id.in_(chunk))):
            due = [
                (at, target)
                for at, target in (
                    (row.response_due, row.response_target),
                    (row.resolution_due, "resolution"),
                )
                if at is not None
            ]
            nearest = min(due, default=None)
            breached = BREACHED in (row.response_stage, row.resolution_stage) or bool(
                nearest and nearest[0] <= now
            )
            found[row.ticket_id] = {
                "policy": row.policy,
                "target": nearest[1] if nearest else None,
                "due": nearest[0].isoformat() if nearest else None,
                "breached": breached,
            }
    return found


def results(session: Session, ticket_id: int) -> list[Met]:
    stmt = select(SlaResult).where(SlaResult.ticket_id == ticket_id).order_by(SlaResult.id)
    return [
        Met(r.ticket_id, r.policy, r.target, r.started_at, r.met_at, r.in_time)
        for r in session.scalars(stmt)
    ]


__all__ = [
    "BREACHED",
    "WARNED",
    "Clocks",
    "Facts",
    "Met",
    "changed_since",
    "claim_due",
    "clocks_of",
    "drop",
    "facts",
    "load",
    "mark_policies",
    "marks",
    "policies_digest",
    "record",
    "results",
    "save",
    "unresolved",
]
