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
from datetime import datetime, timedelta

from echodesk.desk.context import DeskContext
from echodesk.store import retention
from echodesk.store.db import Database
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)


def run_retention(db: Database, ctx: DeskContext, now: datetime | None = None) -> dict[str, int]:
    """One pass of every retention rule; how many rows each touched."""
    now = now or utcnow()
    settings = ctx.settings
    counts = {"spool_bytes_dropped": 0, "audit_archived": 0, "archive_deleted": 0}
    if settings.spool_keep_days:
        before = now - timedelta(days=settings.spool_keep_days)
        while True:
            with db.transaction() as session:
                done, unused = retention.drop_spool_bytes(session, before)
            for key in sorted(unused):
                ctx.blobs.delete(key)
            counts["spool_bytes_dropped"] += done
            if done < retention.BATCH:
                break
    if settings.audit_live_days:
        before = now - timedelta(days=settings.audit_live_days)
        while True:
            with db.transaction() as session:
                done = retention.archive_audit(session, before, now)
            counts["audit_archived"] += done
            if done < retention.BATCH:
                break
    if settings.audit_archive_days:
        before = now - timedelta(days=settings.audit_archive_days)
        while True:
            with db.transaction() as session:
                done = retention.expire_archive(session, before)
            counts["archive_deleted"] += done
            if done < retention.BATCH:
                break
    if any(counts.values()):
        log.info("retention: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts
