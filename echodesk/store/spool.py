"""The inbound spool: put, claim, and record what became of each message.

No mail logic here: the pipeline decides, these functions only move rows
between states. ``claim`` uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so any
number of workers can drain one spool without taking the same row twice; on
SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, defer

from echodesk.errors import NotFoundError
from echodesk.store import bulk
from echodesk.store.blobs import BlobStore, stored_bytes
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow

STATES = ("pending", "processed", "duplicate", "failed", "quarantined", "dropped", "deleted")


@dataclass(frozen=True)
class Arrival:
    """How a message reached Echo (the envelope, for the spool row)."""

    source: str
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    peer: str = ""
    source_ref: str = ""
    received_at: datetime | None = None


def put_many(
    conn: Connection,
    items: Sequence[tuple[bytes, Arrival]],
    blobs: BlobStore,
    inline_limit: int,
) -> list[int]:
    """Add pending rows in one statement; large messages go to the blob store first.

    Returns the new row ids in the items' order.
    """
    now = utcnow()
    rows = []
    for raw, arrival in items:
        large = len(raw) > inline_limit
        rows.append(
            {
                "source": arrival.source,
                "source_ref": arrival.source_ref,
                "received_at": arrival.received_at or now,
                "mail_from": arrival.mail_from,
                "rcpt_to": list(arrival.rcpt_to),
                "peer": arrival.peer,
                "raw": None if large else raw,
                "raw_key": blobs.put(raw) if large else None,
                "raw_sha256": hashlib.sha256(raw).hexdigest(),
                "size": len(raw),
                "state": "pending",
                "kind": "",
                "message_id": "",
                "content_hash": "",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "detail": "",
            }
        )
    if not rows:
        return []
    table = cast(Table, InboundSpool.__table__)
    # Unordered RETURNING (asked for in parameter order, SQLite would run one
    # statement per row): each id is matched to its item by the bytes' sha256, and
    # the rows of equal bytes, numbered in the order they were inserted, by order.
    found = bulk.insert_rows(conn, table, rows, returning=("id", "raw_sha256"))
    ids_of: dict[str, list[int]] = {}
    for row_id, sha in sorted(found):
        ids_of.setdefault(sha, []).append(int(row_id))
    return [ids_of[str(row["raw_sha256"])].pop(0) for row in rows]


@dataclass(frozen=True)
class Claimed:
    """A spool row locked by this transaction: just what processing needs."""

    id: int
    raw: bytes | None
    raw_key: str | None
    attempts: int
    #: The envelope recipients (SMTP RCPT TO): signed reply and bounce addresses show here.
    rcpt_to: tuple[str, ...] = ()
    #: Released from quarantine by an operator: not quarantined again.
    released: bool = False
    #: How it arrived (the sender checks need the SMTP client's address and names).
    source: str = ""
    peer: str = ""
    mail_from: str = ""
    source_ref: str = ""
    #: When the message reached Echo (the latest its own time can be).
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rcpt_to", tuple(str(r) for r in self.rcpt_to or ()))


def raw_bytes(row: Claimed | InboundSpool, blobs: BlobStore) -> bytes:
    return stored_bytes(row.raw, row.raw_key, blobs, f"spool row {row.id}")


_CLAIM_COLUMNS = (
    InboundSpool.id,
    InboundSpool.raw,
    InboundSpool.raw_key,
    InboundSpool.attempts,
    InboundSpool.rcpt_to,
    InboundSpool.released_at.is_not(None),
    InboundSpool.source,
    InboundSpool.peer,
    InboundSpool.mail_from,
    InboundSpool.source_ref,
    InboundSpool.received_at,
)


def claim(session: Session, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Lock up to ``limit`` due pending rows, oldest first, for this transaction.

    The queue's index (state, id) hands the pending rows over in id order, so
    the read stops once the batch is full, however long the backlog.
    """
    stmt = (
        select(*_CLAIM_COLUMNS)
        .where(InboundSpool.state == "pending", InboundSpool.next_attempt_at <= (now or utcnow()))
        .order_by(InboundSpool.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [Claimed(*row) for row in session.execute(stmt)]


def due(session: Session, limit: int, after: int = 0) -> list[Claimed]:
    """The oldest due pending rows past id ``after``, read without locking (read before
    the write lock, so parsing does not hold up writers; ``after`` skips the rows
    already being parsed)."""
    stmt = (
        select(*_CLAIM_COLUMNS)
        .where(
            InboundSpool.state == "pending",
            InboundSpool.next_attempt_at <= utcnow(),
            InboundSpool.id > after,
        )
        .order_by(InboundSpool.id)
        .limit(limit)
    )
    return [Claimed(*row) for row in session.execute(stmt)]


def claim_ids(session: Session, ids: Sequence[int]) -> list[Claimed]:
    """Those of ``ids`` still pending, locked for this transaction (without raw bytes).

    The rows are read by id alone and their state checked here: asked for
    ``state = 'pending'`` too, a planner may read every pending row through the
    queue's index, a cost that grows with the backlog of a large import.
    """
    stmt = (
        select(InboundSpool.id, InboundSpool.attempts, InboundSpool.state)
        .where(InboundSpool.id.in_(list(ids)))
        .order_by(InboundSpool.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [
        Claimed(row_id, None, None, attempts)
        for row_id, attempts, state in session.execute(stmt)
        if state == "pending"
    ]


def claim_one(session: Session, row_id: int) -> Claimed | None:
    """Lock one row by id if it is still pending (another worker may have taken it)."""
    stmt = select(*_CLAIM_COLUMNS).where(InboundSpool.id == row_id, InboundSpool.state == "pending")
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    row = session.execute(stmt).first()
    return Claimed(*row) if row else None


def mark_failed(
    session: Session, row: Claimed, error: str, *, max_attempts: int, first_delay: int
) -> str:
    """Record a failed attempt; retry later with doubling delay, or give up as 'failed'."""
    attempts = row.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "last_error": error[:4000]}
    if attempts >= max_attempts:
        values["state"] = "failed"
    else:
        delay = first_delay * 2 ** (attempts - 1)
        values["next_attempt_at"] = utcnow() + timedelta(seconds=min(delay, 6 * 3600))
    session.execute(update(InboundSpool).where(InboundSpool.id == row.id).values(**values))
    return str(values.get("state", "retry"))


def retry(session: Session, row_id: int) -> InboundSpool:
    """Put a failed row back in the queue, due now."""
    row = session.get(InboundSpool, row_id)
    if row is None:
        raise NotFoundError(f"no spool row {row_id}")
    if row.state not in ("failed", "pending"):
        raise NotFoundError(f"spool row {row_id} is {row.state}; only failed rows can be retried")
    row.state = "pending"
    row.next_attempt_at = utcnow()
    return row


def quarantined(session: Session, row_id: int) -> InboundSpool:
    row = session.get(InboundSpool, row_id)
    if row is None:
        raise NotFoundError(f"no spool row {row_id}")
    if row.state != "quarantined":
        raise NotFoundError(f"spool row {row_id} is {row.state}, not quarantined")
    return row


def release(session: Session, row_id: int) -> InboundSpool:
    """Let a quarantined message through: processed normally, never quarantined again."""
    row = quarantined(session, row_id)
    row.state = "pending"
    row.released_at = row.next_attempt_at = utcnow()
    return row


def delete_quarantined(session: Session, row_id: int, blobs: BlobStore) -> InboundSpool:
    """Throw a quarantined message away: its bytes go, the row stays as a record."""
    row = quarantined(session, row_id)
    if row.raw_key:
        still_used = session.scalar(
            select(InboundSpool.id).where(
                InboundSpool.raw_key == row.raw_key, InboundSpool.id != row.id
            )
        )
        if still_used is None:
            blobs.delete(row.raw_key)
    row.raw, row.raw_key = None, None
    row.state = "deleted"
    row.processed_at = utcnow()
    return row


# The outbox lists its own table the same way (outbox.rows): two queues, two tables.
def rows(
    session: Session, state: str | None = None, limit: int | None = None
) -> Sequence[InboundSpool]:
    stmt = select(InboundSpool).options(defer(InboundSpool.raw)).order_by(InboundSpool.id)
    if state:
        stmt = stmt.where(InboundSpool.state == state)
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def count_by_state(session: Session, states: Sequence[str]) -> dict[str, int]:
    """How many spool rows are in each of ``states`` (states with none are left out)."""
    stmt = (
        select(InboundSpool.state, func.count())
        .where(InboundSpool.state.in_(list(states)))
        .group_by(InboundSpool.state)
    )
    return {state: int(n) for state, n in session.execute(stmt)}
