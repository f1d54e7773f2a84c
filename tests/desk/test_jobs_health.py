"""Scheduled jobs report every run, so ``echodesk status`` shows a job that stopped working."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.desk.jobs.schedule import start_scheduler
from echodesk.store import connectors
from echodesk.store.health import snapshot
from tests.support.desk import Desk


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(db_url, tmp_path / "data", spool_report_seconds=1, alert_check_seconds=1)
    try:
        yield harness
    finally:
        harness.close()


def test_every_scheduled_job_records_its_runs(desk: Desk) -> None:
    scheduler = start_scheduler(desk.db, desk.ctx)
    try:
        deadline = time.monotonic() + 20
        names: set[str] = set()
        while time.monotonic() < deadline and not {"job:alerts", "job:spool-report"} <= names:
            time.sleep(0.2)
            with desk.db.reading() as session:
                names = {c.name for c in connectors.every(session) if c.last_success_at}
    finally:
        scheduler.shutdown(wait=True)
    assert {"job:alerts", "job:spool-report"} <= names
    found = snapshot(desk.db)
    jobs = [c for c in found.connectors if c.kind == "job"]
    assert jobs and not any(c.failing for c in jobs) and found.problems == []
