"""Scheduled jobs: APScheduler 3 as an in-process timer.

One scheduler per process, jobs registered in code at start-up
(``replace_existing``, ``coalesce``, one instance at a time). Durable state
lives in the database, never in the scheduler, so any number of processes can
run the same schedule; a job that must run once cluster-wide takes a
PostgreSQL advisory lock itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from echodesk.desk.context import DeskContext
from echodesk.desk.jobs.alerts import run_alerts
from echodesk.desk.jobs.autoclose import run_autoclose
from echodesk.desk.jobs.retention import run_retention
from echodesk.desk.jobs.sla import run_sla
from echodesk.desk.jobs.wakeups import run_wakeups
from echodesk.store import spool
from echodesk.store.connectors import DbHealth
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


def _recorded(db: Database, name: str, job: Callable[..., object]) -> Callable[..., None]:
    """The job, with each run's outcome kept as connector ``job:NAME`` (see ``status``)."""
    health = DbHealth(db, "job")

    def run(*args: object) -> None:
        try:
            job(*args)
        except Exception as exc:
            health.failed(f"job:{name}", f"{type(exc).__name__}: {exc}")
            raise  # the scheduler logs it with its traceback
        health.succeeded(f"job:{name}")

    return run


def start_scheduler(db: Database, ctx: DeskContext) -> BackgroundScheduler:
    """Start the process's scheduler with every job Echo runs on a timer."""
    settings = ctx.settings
    jobs: list[tuple[str, Callable[..., object], tuple[object, ...], int]] = [
        ("spool-report", report_spool, (db,), settings.spool_report_seconds),
        ("alerts", run_alerts, (db, ctx), settings.alert_check_seconds),
        ("wakeups", run_wakeups, (db, ctx), settings.wakeup_check_seconds),
    ]
    if settings.sla:
        jobs.append(("sla", run_sla, (db, ctx), settings.sla_check_seconds))
    if settings.autoclose_days > 0:
        jobs.append(("autoclose", run_autoclose, (db, ctx), settings.autoclose_check_seconds))
    if settings.spool_keep_days or settings.audit_live_days or settings.audit_archive_days:
        jobs.append(("retention", run_retention, (db, ctx), settings.retention_check_seconds))
    scheduler = BackgroundScheduler(timezone="UTC")
    for name, job, args, seconds in jobs:
        scheduler.add_job(
            _recorded(db, name, job),
            "interval",
            args=list(args),
            id=name,
            seconds=seconds,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
    scheduler.start()
    return scheduler
