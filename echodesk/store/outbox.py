"""The outbox table: queue, claim, record, suppress, list. No mail logic here.

A row is one composed message for one recipient. It is queued in the
transaction of the change that caused it; a sender claims due rows with a
*lease* (the row's next attempt is pushed into the future and its attempt
counted) and sends outside any transaction, so a slow relay never holds a
database lock. If the sender dies mid-send the lease runs out and another
sender tries again. Outbox states form a small transition table (STYLE §9).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, defer

from echodesk.errors import NotFoundError
from echodesk.store.blobs import BlobStore, stored_bytes
from echodesk.store.models import Customer, Outbox
from echodesk.store.types import utcnow

QUEUED, SENT, FAILED, SUPPRESSED = "queued", "sent", "failed", "suppressed"
STATES = (QUEUED, SENT, FAILED, SUPPRESSED)

#: (state, event) -> state. Events: sent, rejected (5xx), deferred (4xx or no
#: connection, attempts left), exhausted (4xx, none left), suppress, retry (by hand).
TRANSITIONS: dict[tuple[str, str], str] = {
    (QUEUED, "sent"): SENT,
    (QUEUED, "rejected"): FAILED,
    (QUEUED, "deferred"): QUEUED,
    (QUEUED, "exhausted"): FAILED,
    (QUEUED, "suppress"): SUPPRESSED,
    (SENT, "bounced"): FAILED,
    (FAILED, "retry"): QUEUED,
    (SUPPRESSED, "retry"): QUEUED,
}

LEASE_SECONDS = 300


def _table() -> Table:
    return cast(Table, Outbox.__table__)


@dataclass(frozen=True)
class NewMail:
    """One outbox row to queue: a composed message for one recipient."""

    rcpt: str
    raw: bytes
    message_id: str
    purpose: str
    ticket_id: int | None = None
    message_pk: int | None = None
    state: str = QUEUED
    reason: str = ""


def queue(
    session: Session, mails: Sequence[NewMail], blobs: BlobStore, inline_limit: int
) -> list[int]:
    """Insert the rows (large messages' bytes go to the blob store); their ids, in order."""
    if not mails:
        return []
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for mail in mails:
        raw: bytes | None = mail.raw
        key: str | None = None
        if len(mail.raw) > inline_limit:
            key, raw = blobs.put(mail.raw), None
        rows.append(
            {
                "ticket_id": mail.ticket_id,
                "message_pk": mail.message_pk,
                "purpose": mail.purpose,
                "state": mail.state,
                "rcpt": mail.rcpt.strip().lower(),
                "mail_from": "",
                "message_id": mail.message_id,
                "raw": raw,
                "raw_key": key,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "reason": mail.reason,
                "created_at": now,
                "sent_at": None,
            }
        )
    ids: list[int] = []
    for row in rows:  # RETURNING in order, one row at a time: replies are few
        ids.append(
            int(session.execute(insert(_table()).returning(_table().c.id), row).scalar_one())
        )
    return ids


@dataclass(frozen=True)
class Claimed:
    """A row leased to one sender: what sending needs."""

    id: int
    rcpt: str
    raw: bytes | None
    raw_key: str | None
    attempts: int
    ticket_id: int | None
    purpose: str


def raw_bytes(row: Claimed, blobs: BlobStore) -> bytes:
    return stored_bytes(row.raw, row.raw_key, blobs, f"outbox row {row.id}")


def claim_due(session: Session, limit: int, lease_seconds: int = LEASE_SECONDS) -> list[Claimed]:
    """Lease up to ``limit`` due queued rows, oldest first (other senders skip them)."""
    now = utcnow()
    t = _table()
    stmt = (
        select(t.c.id, t.c.rcpt, t.c.raw, t.c.raw_key, t.c.attempts, t.c.ticket_id, t.c.purpose)
        .where(t.c.state == QUEUED, t.c.next_attempt_at <= now)
        .order_by(t.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = [Claimed(*row) for row in session.execute(stmt)]
    if claimed:
        session.execute(
            update(t)
            .where(t.c.id.in_([c.id for c in claimed]))
            .values(
                attempts=t.c.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_seconds)
            )
        )
    return [
        Claimed(c.id, c.rcpt, c.raw, c.raw_key, c.attempts + 1, c.ticket_id, c.purpose)
        for c in claimed
    ]


def bounced_among(session: Session, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses belong to a customer whose mail bounced permanently."""
    wanted = sorted({a.lower() for a in addresses})
    if not wanted:
        return set()
    stmt = select(Customer.email).where(
        Customer.email.in_(wanted), Customer.bounced_at.is_not(None)
    )
    return set(session.scalars(stmt))


@dataclass(frozen=True)
class Result:
    """What one attempt did to a row: an event of :data:`TRANSITIONS` and the details."""

    id: int
    event: str
    detail: str = ""
    mail_from: str = ""
    reason: str = ""
    retry_at: datetime | None = None


def record(session: Session, results: Sequence[Result]) -> None:
    """Apply each attempt's event to its (still queued) row."""
    now = utcnow()
    t = _table()
    rows: list[dict[str, Any]] = []
    for result in results:
        state = TRANSITIONS[(QUEUED, result.event)]
        rows.append(
            {
                "b_id": result.id,
                "b_state": state,
                "b_error": "" if result.event == "sent" else result.detail[:4000],
                "b_reason": result.reason,
                "b_from": result.mail_from,
                "b_sent": now if result.event == "sent" else None,
                "b_next": result.retry_at or now,
            }
        )
    if not rows:
        return
    stmt = (
        update(t)
        .where(t.c.id == bindparam("b_id"), t.c.state == QUEUED)
        .values(
            state=bindparam("b_state"),
            last_error=bindparam("b_error"),
            reason=bindparam("b_reason"),
            mail_from=bindparam("b_from"),
            sent_at=bindparam("b_sent"),
            next_attempt_at=bindparam("b_next"),
        )
    )
    session.connection().execute(stmt, rows)


def suppress_queued_to(session: Session, address: str, reason: str) -> int:
    """Turn every queued row to ``address`` into ``suppressed``; how many there were."""
    t = _table()
    result = session.execute(
        update(t)
        .where(t.c.rcpt == address.strip().lower(), t.c.state == QUEUED)
        .values(state=SUPPRESSED, reason=reason)
    )
    return int(cast(Any, result).rowcount)


def mark_bounced(session: Session, row_id: int, detail: str) -> None:
    """A sent row whose recipient's server later reported it undeliverable."""
    t = _table()
    session.execute(
        update(t)
        .where(t.c.id == row_id, t.c.state.in_((SENT, QUEUED)))
        .values(state=FAILED, reason="bounced", last_error=detail[:4000])
    )


def retry(session: Session, row_id: int) -> Outbox:
    """Queue a failed or suppressed row again, due now, with a fresh attempt count."""
    row = session.get(Outbox, row_id)
    if row is None:
        raise NotFoundError(f"no outbox row {row_id}")
    if (row.state, "retry") not in TRANSITIONS:
        raise NotFoundError(
            f"outbox row {row_id} is {row.state}; only failed or suppressed mail can be retried"
        )
    row.state = TRANSITIONS[(row.state, "retry")]
    row.attempts = 0
    row.reason = ""
    row.next_attempt_at = utcnow()
    return row


# The spool lists its own table the same way (spool.rows): two queues, two tables.
def rows(session: Session, state: str | None = None, limit: int | None = None) -> Sequence[Outbox]:
    stmt = select(Outbox).options(defer(Outbox.raw)).order_by(Outbox.id)
    if state:
        stmt = stmt.where(Outbox.state == state)
    if limit:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def newest_to(session: Session, rcpt: str, states: Sequence[str], since: datetime) -> int | None:
    """The id of the newest row to ``rcpt`` in one of ``states`` created since ``since``."""
    stmt = (
        select(Outbox.id)
        .where(Outbox.rcpt == rcpt, Outbox.state.in_(list(states)), Outbox.created_at >= since)
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)
