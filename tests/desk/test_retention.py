"""Retention: exactly what is past its time goes, also with two processes at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from echodesk.desk.jobs.retention import run_retention
from echodesk.store.models import AuditArchive, AuditLog, InboundSpool
from echodesk.store.spool import raw_bytes
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail

NOW = utcnow()


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", flood_limit=0, spool_inline_limit=2000)
    try:
        yield d
    finally:
        d.close()


def _spooled(desk: Desk, n: int, days_ago: float, *, body: str = "Hello\n") -> int:
    outcome = desk.deliver(
        make_mail(message_id=f"r{n}@customer.test", sender=f"c{n}@customer.test", body=body)
    )
    with desk.db.transaction() as session:
        session.execute(
            update(InboundSpool)
            .where(InboundSpool.id == outcome.spool_id)
            .values(processed_at=NOW - timedelta(days=days_ago))
        )
    return outcome.spool_id


def test_raw_mail_goes_n_days_after_processing_and_nothing_else(desk: Desk) -> None:
    old = _spooled(desk, 1, 31)
    recent = _spooled(desk, 2, 29)
    big = _spooled(desk, 3, 45, body="A long story.\n" * 400)  # kept as a file
    failed = _spooled(desk, 4, 60)
    with desk.db.transaction() as session:
        session.execute(
            update(InboundSpool).where(InboundSpool.id == failed).values(state="failed")
        )
        key = session.scalar(select(InboundSpool.raw_key).where(InboundSpool.id == big))
    assert key and desk.ctx.blobs.exists(key)
    counts = run_retention(desk.db, desk.ctx, now=NOW)
    assert counts["spool_bytes_dropped"] == 2
    with desk.db.reading() as session:
        rows = {r.id: r for r in session.scalars(select(InboundSpool))}
        assert rows[old].raw is None and rows[old].raw_key is None
        assert rows[old].state == "processed" and rows[old].ticket_id is not None
        assert rows[big].raw_key is None
        assert raw_bytes(rows[recent], desk.ctx.blobs).startswith(b"From:")
        assert raw_bytes(rows[failed], desk.ctx.blobs)  # a failed message may be retried
    assert not desk.ctx.blobs.exists(key)
    assert run_retention(desk.db, desk.ctx, now=NOW)["spool_bytes_dropped"] == 0
    assert len(desk.tickets()) == 4  # the tickets are untouched


def _audit(desk: Desk, ages: list[float], archive: bool = False) -> None:
    model = AuditArchive if archive else AuditLog
    with desk.db.transaction() as session:
        start = (session.scalar(select(func.max(model.id))) or 0) + 1000
        for n, age in enumerate(ages):
            values = {
                "at": NOW - timedelta(days=age),
                "actor": "cli",
                "action": "tickets.tag",
                "target_type": "ticket",
                "target_id": "1",
                "payload": {"tags": ["n" + str(n)]},
            }
            session.add(model(id=start + n, **values) if archive else model(**values))


def test_audit_rows_move_to_the_archive_and_leave_it_after_seven_years(desk: Desk) -> None:
    _audit(desk, [91, 120, 89, 1])
    _audit(desk, [7 * 365 + 3, 7 * 365 - 3], archive=True)
    counts = run_retention(desk.db, desk.ctx, now=NOW)
    assert (counts["audit_archived"], counts["archive_deleted"]) == (2, 1)
    with desk.db.reading() as session:
        live = sorted(
            round((NOW - a.at).total_seconds() / 86400) for a in session.scalars(select(AuditLog))
        )
        archived = sorted(
            round((NOW - a.at).total_seconds() / 86400)
            for a in session.scalars(select(AuditArchive))
        )
        moved = session.scalars(select(AuditArchive).where(AuditArchive.action == "tickets.tag"))
        payloads = sorted(a.payload["tags"][0] for a in moved)
    assert [d for d in live if d >= 1] == [1, 89]  # (plus the desk's own recent rows)
    assert archived == [91, 120, 7 * 365 - 3]
    assert "n0" in payloads and "n1" in payloads  # moved whole


def test_two_processes_at_once_move_each_row_exactly_once(desk: Desk) -> None:
    _audit(desk, [100 + n / 1000 for n in range(1234)])
    errors: list[BaseException] = []
    results: list[dict[str, int]] = []

    def run() -> None:
        try:
            results.append(run_retention(desk.db, desk.ctx, now=NOW))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(r["audit_archived"] for r in results) == 1234
    with desk.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(AuditArchive)) == 1234
        old = session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.at < NOW - timedelta(90))
        )
        assert old == 0
