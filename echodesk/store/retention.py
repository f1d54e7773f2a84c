"""Retention: raw mail and audit rows kept only as long as the settings say.

Each step works in batches, one short transaction each, taking rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's writers queue on its
lock), so several processes can run the job at once without doing a row
twice or waiting for each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from echodesk.store.models import AuditArchive, AuditLog, InboundSpool

BATCH = 500
DONE_STATES = ("processed", "duplicate")  # successfully processed
_AUDIT_COLUMNS = [c.name for c in AuditLog.__table__.columns]  # the archive has them all


def _locked(session: Session, stmt: Select[Any]) -> Select[Any]:
    """Rows no other process holds (PostgreSQL); SQLite's writers already take turns."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def drop_spool_bytes(session: Session, before: datetime) -> tuple[int, set[str]]:
    """Forget the raw bytes of one batch of mail processed before ``before``.

    Returns how many rows and the blob keys no other row needs any more.
    """
    stmt = (
        select(InboundSpool)
        .where(
            InboundSpool.state.in_(DONE_STATES),
            InboundSpool.processed_at < before,
            or_(InboundSpool.raw.is_not(None), InboundSpool.raw_key.is_not(None)),
        )
        .order_by(InboundSpool.id)
        .limit(BATCH)
    )
    rows = list(session.scalars(_locked(session, stmt)))
    keys = {r.raw_key for r in rows if r.raw_key}
    for row in rows:
        row.raw, row.raw_key = None, None
    session.flush()
    unused = {
        key
        for key in keys
        if session.scalar(select(InboundSpool.id).where(InboundSpool.raw_key == key).limit(1))
        is None
    }
    return len(rows), unused


def archive_audit(session: Session, before: datetime, now: datetime) -> int:
    """Move one batch of audit rows older than ``before`` into the archive."""
    stmt = select(AuditLog).where(AuditLog.at < before).order_by(AuditLog.id).limit(BATCH)
    rows = list(session.scalars(_locked(session, stmt)))
    if not rows:
        return 0
    ids = [r.id for r in rows]
    known = set(session.scalars(select(AuditArchive.id).where(AuditArchive.id.in_(ids))))
    session.add_all(
        AuditArchive(**{c: getattr(r, c) for c in _AUDIT_COLUMNS}, archived_at=now)
        for r in rows
        if r.id not in known
    )
    session.flush()
    session.execute(delete(AuditLog).where(AuditLog.id.in_(ids)))
    return len(rows)


def expire_archive(session: Session, before: datetime) -> int:
    """Delete one batch of archived audit rows older than ``before``."""
    stmt = select(AuditArchive.id).where(AuditArchive.at < before).order_by(AuditArchive.id)
    ids = list(session.scalars(_locked(session, stmt.limit(BATCH))))
    if ids:
        session.execute(delete(AuditArchive).where(AuditArchive.id.in_(ids)))
    return len(ids)
