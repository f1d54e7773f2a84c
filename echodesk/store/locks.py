"""Locks that keep two workers from deciding one conversation at the same instant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session


def try_conversation_locks(session: Session, keys: Sequence[str]) -> set[str] | None:
    """Try a transaction-level lock on each key; the keys now held, or None for "all".

    PostgreSQL takes an advisory lock per key, held until the transaction
    ends, and only *tries*: waiting could deadlock two workers whose batches
    overlap. SQLite needs none (``BEGIN IMMEDIATE`` admits one writer at a
    time), so every key counts as held.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    stmt = text(
        "SELECT k, pg_try_advisory_xact_lock(hashtextextended(k, 0)) "
        "FROM unnest(CAST(:keys AS text[])) AS t(k)"
    )
    return {key for key, ok in session.execute(stmt, {"keys": sorted(set(keys))}) if ok}
