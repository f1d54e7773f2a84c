"""Scheduled jobs: APScheduler 3 as an in-process timer.

One scheduler per process, jobs registered in code at start-up
(``replace_existing``, ``coalesce``, one instance at a time). Durable state
lives in the database, never in the scheduler, so any number of processes can
run the same schedule; a job that must run once cluster-wide takes a
PostgreSQL advisory lock itself.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from echodesk.desk.context import DeskContext
from echodesk.desk.jobs.alerts import run_alerts
from echodesk.desk.jobs.autoclose import run_autoclose
from echodesk.desk.jobs.retention import run_retention
from echodesk.store import spool
from echodesk.store.db import Database

log = logging.getLogger(__name__)


def report_spool(db: Database) -> dict[str, int]:
    """Log how many messages wait and how many failed, so operators see trouble early."""
    with db.reading() as session:
        counts = spool.count_by_state(session, ("pending", "failed", "quarantined"))
    level = logging.WARNING if counts.get("failed") else logging.INFO
    log.log(
        level,
        "spool: %d pending, %d failed, %d quarantined",
        counts.get("pending", 0),
        counts.get("failed", 0),
        counts.get("quarantined", 0),
    )
    return counts


def start_scheduler(db: Database, ctx: DeskContext) -> BackgroundScheduler:
    """Start the process's scheduler with every job Echo runs on a timer."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        report_spool,
        "interval",
        args=[db],
        id="spool-report",
        seconds=ctx.settings.spool_report_seconds,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        run_alerts,
        "interval",
        args=[db, ctx],
        id="alerts",
        seconds=ctx.settings.alert_check_seconds,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )
    if ctx.settings.autoclose_days > 0:
        scheduler.add_job(
            run_autoclose,
            "interval",
            args=[db, ctx],
            id="autoclose",
            seconds=ctx.settings.autoclose_check_seconds,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
    settings = ctx.settings
    if settings.spool_keep_days or settings.audit_live_days or settings.audit_archive_days:
        scheduler.add_job(
            run_retention,
            "interval",
            args=[db, ctx],
            id="retention",
            seconds=settings.retention_check_seconds,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
    scheduler.start()
    return scheduler
