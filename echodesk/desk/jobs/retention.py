"""The retention job: what the settings say may go, goes (run by the scheduler).

* raw bytes of received mail, ``spool_keep_days`` after it was processed
  (the spool row, its state and its ticket stay; the bytes and their file go);
* audit rows older than ``audit_live_days`` move to the audit archive;
* archived audit rows older than ``audit_archive_days`` are deleted.

A setting of 0 keeps forever. Every batch is its own transaction and files
are deleted after the commit, so the job can stop at any moment, run in
several processes at once, and pick up where it was on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.store import retention
from echodesk.store.db import Database
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)


def run_retention(db: Database, ctx: DeskContext, now: datetime | None = None) -> dict[str, int]:
    """One pass of every retention rule; how many rows each touched."""
    now = now or utcnow()
    settings = ctx.settings

    def spool(session: Session, before: datetime) -> int:
        done, unused = retention.drop_spool_bytes(session, before)
        files.update(unused)
        return done

    files: set[str] = set()
    steps: list[tuple[str, int, Callable[[Session, datetime], int]]] = [
        ("spool_bytes_dropped", settings.spool_keep_days, spool),
        ("audit_archived", settings.audit_live_days, partial(retention.archive_audit, now=now)),
        ("archive_deleted", settings.audit_archive_days, retention.expire_archive),
    ]
    counts = {}
    for name, days, step in steps:
        counts[name] = _drain(db, step, now - timedelta(days=days), ctx, files) if days else 0
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


def _drain(
    db: Database,
    step: Callable[[Session, datetime], int],
    before: datetime,
    ctx: DeskContext,
    files: set[str],
) -> int:
    """Run one step batch by batch, each its own transaction; files go after each commit."""
    total = 0
    while True:
        with db.transaction() as session:
            done = step(session, before)
        for key in sorted(files):
            ctx.blobs.delete(key)
        files.clear()
        total += done
        if done < retention.BATCH:
            return total
