"""Counting events per key in the database, so a limit holds across processes and machines.

Why here and not the ``limits`` library: its storages are memory, Redis,
Memcached and MongoDB; Echo has none of those but its database, and a limit
kept in one process's memory is no limit when gunicorn runs four workers or
two machines share one PostgreSQL. So the counts live in the ``counters``
table (named counters, already used for ticket numbers and round-robin
turns), one row per key per five minutes::

    rl:<bucket start, epoch seconds, 10 digits>:<sha256 of the key, 32 hex>

:func:`take` admits an event when the key's rows of the last 13 buckets (a
little more than an hour, so no 60 minutes ever hold more than the limit)
add up to less than the limit, and then counts it; refused events are not
counted and write nothing. Check-and-count is atomic: on PostgreSQL a
transaction-level advisory lock per key serialises callers (two requests
cannot both take the last slot), on SQLite the write transaction
(``BEGIN IMMEDIATE``) already does. Rows older than the window are deleted as
new ones come, so the table holds about an hour of traffic. Keys are hashed:
the table shows no address.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from echodesk.store.models import Counter
from echodesk.store.types import utcnow

WINDOW = timedelta(hours=1)
BUCKET = timedelta(minutes=5)
_PREFIX = "rl:"
#: The advisory lock class of rate limits (two-int keys never meet the pipeline's one-int keys).
_LOCK_CLASS = 0x524C  # "RL"
_PRUNE_BATCH = 500


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


def _name(start: int, digest: str) -> str:
    return f"{_PREFIX}{start:010d}:{digest}"


def _buckets(now: datetime) -> list[int]:
    """The starts (epoch seconds) of the buckets that cover the window ending now."""
    size = int(BUCKET.total_seconds())
    current = int(now.timestamp()) // size * size
    count = int(WINDOW / BUCKET)
    return [current - i * size for i in range(count, -1, -1)]


def _lock(session: Session, digest: str) -> None:
    """Serialise callers counting the same key until this transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction holds the database's one write lock
    key = int.from_bytes(bytes.fromhex(digest[:8]), "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": _LOCK_CLASS, "k": key})


def _count(session: Session, name: str) -> None:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    table = Counter.__table__
    stmt = module.insert(table).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": table.c.value + 1})
    session.execute(stmt)


def _prune(session: Session, oldest: int) -> None:
    """Delete counts older than the window (a few at a time; never waits for another pruner)."""
    stale = (
        select(Counter.name)
        .where(Counter.name >= _PREFIX, Counter.name < _name(oldest, ""))
        .limit(_PRUNE_BATCH)
    )
    if session.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    session.execute(delete(Counter).where(Counter.name.in_(stale.scalar_subquery())))


def take(session: Session, key: str, limit: int, now: datetime | None = None) -> bool:
    """Count one event for ``key`` if fewer than ``limit`` happened in the last hour.

    True: counted (commit the caller's transaction to keep it). False: over
    the limit; nothing was written.
    """
    digest = _digest(key)
    starts = _buckets(now or utcnow())
    _lock(session, digest)
    names = [_name(start, digest) for start in starts]
    used = session.scalar(
        select(func.coalesce(func.sum(Counter.value), 0)).where(Counter.name.in_(names))
    )
    if int(used or 0) >= limit:
        return False
    _count(session, names[-1])
    _prune(session, starts[0])
    return True
