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

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from echodesk.errors import NotFoundError
from echodesk.store.blobs import BlobStore
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow

STATES = ("pending", "processed", "duplicate", "failed", "quarantined")


@dataclass(frozen=True)
class Arrival:
    """How a message reached Echo (the envelope, for the spool row)."""

    source: str
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    peer: str = ""
    source_ref: str = ""
    received_at: datetime | None = None


def put(
    session: Session, raw: bytes, arrival: Arrival, blobs: BlobStore, inline_limit: int
) -> InboundSpool:
    """Add a pending row holding ``raw``; the caller commits before acknowledging."""
    digest = hashlib.sha256(raw).hexdigest()
    large = len(raw) > inline_limit
    row = InboundSpool(
        source=arrival.source,
        source_ref=arrival.source_ref,
        received_at=arrival.received_at or utcnow(),
        mail_from=arrival.mail_from,
        rcpt_to=list(arrival.rcpt_to),
        peer=arrival.peer,
        raw=None if large else raw,
        raw_key=blobs.put(raw) if large else None,
        raw_sha256=digest,
        size=len(raw),
        state="pending",
        next_attempt_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def raw_bytes(row: InboundSpool, blobs: BlobStore) -> bytes:
    if row.raw is not None:
        return bytes(row.raw)
    if row.raw_key:
        try:
            return blobs.get(row.raw_key)
        except KeyError:
            raise NotFoundError(
                f"spool row {row.id}: raw bytes missing from the blob store ({row.raw_key})"
            ) from None
    raise NotFoundError(f"spool row {row.id} has no raw bytes left")


def claim(session: Session, limit: int, now: datetime | None = None) -> list[InboundSpool]:
    """Lock up to ``limit`` due pending rows, oldest first, for this transaction."""
    stmt = (
        select(InboundSpool)
        .where(InboundSpool.state == "pending", InboundSpool.next_attempt_at <= (now or utcnow()))
        .order_by(InboundSpool.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def claim_one(session: Session, row_id: int) -> InboundSpool | None:
    """Lock one row by id if it is still pending (another worker may have taken it)."""
    stmt = select(InboundSpool).where(InboundSpool.id == row_id, InboundSpool.state == "pending")
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt).first()


def mark_done(
    row: InboundSpool,
    *,
    state: str,
    kind: str,
    message_id: str,
    ticket_id: int | None,
    detail: str = "",
) -> None:
    row.state = state
    row.kind = kind
    row.message_id = message_id
    row.ticket_id = ticket_id
    row.detail = detail
    row.attempts += 1
    row.last_error = ""
    row.processed_at = utcnow()


def mark_failed(row: InboundSpool, error: str, *, max_attempts: int, first_delay: int) -> None:
    """Record a failed attempt; retry later with doubling delay, or give up as 'failed'."""
    row.attempts += 1
    row.last_error = error[:4000]
    if row.attempts >= max_attempts:
        row.state = "failed"
        return
    delay = first_delay * 2 ** (row.attempts - 1)
    row.next_attempt_at = utcnow() + timedelta(seconds=min(delay, 6 * 3600))


def retry(session: Session, row_id: int) -> InboundSpool:
    """Put a failed (or quarantined) row back in the queue, due now."""
    row = session.get(InboundSpool, row_id)
    if row is None:
        raise NotFoundError(f"no spool row {row_id}")
    if row.state not in ("failed", "quarantined", "pending"):
        raise NotFoundError(f"spool row {row_id} is {row.state}; only failed rows can be retried")
    row.state = "pending"
    row.next_attempt_at = utcnow()
    return row


def rows(
    session: Session, state: str | None = None, limit: int | None = None
) -> Sequence[InboundSpool]:
    stmt = select(InboundSpool).options(defer(InboundSpool.raw)).order_by(InboundSpool.id)
    if state:
        stmt = stmt.where(InboundSpool.state == state)
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def pending_count(session: Session) -> int:
    stmt = select(func.count()).select_from(InboundSpool).where(InboundSpool.state == "pending")
    return int(session.scalar(stmt) or 0)
