"""Alerts: a mailbox that stops answering is mailed to the admins once, and its
recovery once; several processes running the job still mail once.

Real Dovecot (stopped and started again), the real outbox; SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from echodesk.config import ImapAccount
from echodesk.desk.context import DeskContext
from echodesk.desk.jobs.alerts import Told, run_alerts
from echodesk.mailbox.imap import ImapPoller
from echodesk.mailbox.message import Envelope
from echodesk.store import outbox as outbox_store
from echodesk.store.blobs import stored_bytes
from echodesk.store.connectors import DbHealth
from echodesk.store.imap_state import DbCursor
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow
from tests.mailbox.test_imap import account_for
from tests.support.desk import Desk
from tests.support.dovecot import start_dovecot
from tests.support.mail import make_mail

ADMINS = ("ops@desk.test", "lead@desk.test")


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(db_url, tmp_path / "data", admin_addresses=ADMINS, alert_after=0)
    try:
        yield harness
    finally:
        harness.close()


def _alerts(desk: Desk) -> list[dict[str, Any]]:
    return [row for row in desk.outbox() if row["purpose"] == "alert"]


def _subjects(desk: Desk) -> list[str]:
    """The subject of every alert mail, as the admins' client shows it."""
    with desk.db.reading() as session:
        rows = [r for r in outbox_store.rows(session) if r.purpose == "alert"]
        raws = [stored_bytes(r.raw, r.raw_key, desk.ctx.blobs, "alert") for r in rows]
    return [str(BytesParser(policy=default).parsebytes(raw)["Subject"]) for raw in raws]


def test_a_stopped_mailbox_is_alerted_once_and_its_recovery_once(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="echodesk.desk.jobs.alerts")
    dovecot = start_dovecot()
    try:
        with dovecot.client("alerts@desk.test") as other:
            other.append("INBOX", make_mail(message_id="a1@customer.test"))
        account = account_for(dovecot, "alerts@desk.test")
        health = DbHealth(desk.db, "imap")
        poller = ImapPoller(account, desk.intake.accept, DbCursor(desk.db), health=health)
        assert poller.poll_once() == 1
        poller.close()
        assert run_alerts(desk.db, desk.ctx) == Told()

        dovecot.stop()
        with pytest.raises(Exception):  # noqa: B017 - nothing answers on the port
            poller.poll_once()
        told = run_alerts(desk.db, desk.ctx)
        assert told.opened == ("connector:imap:support/INBOX",)
        assert run_alerts(desk.db, desk.ctx) == Told()  # the same incident: no second mail
        assert sorted(r["rcpt"] for r in _alerts(desk)) == sorted(ADMINS)
        attention = "Echo needs attention: imap:support/INBOX failing"
        assert all(s.startswith(attention) for s in _subjects(desk))
        assert "alert: imap:support/INBOX failing since" in caplog.text

        dovecot.start()
        assert poller.poll_once() == 0
        poller.close()
        told = run_alerts(desk.db, desk.ctx)
        assert told.cleared == ("connector:imap:support/INBOX",)
        assert run_alerts(desk.db, desk.ctx) == Told()
        subjects = _subjects(desk)
        assert len(subjects) == 4  # two admins: one alert and one recovery each
        assert sum(s.startswith("Echo recovered: ") for s in subjects) == 2
    finally:
        dovecot.destroy()


def test_failed_spool_rows_are_alerted_once_by_many_processes(desk: Desk) -> None:
    desk.accept(make_mail(message_id="bad@customer.test"))
    with desk.db.transaction() as session:
        session.execute(update(InboundSpool).values(state="failed", last_error="boom"))
    contexts = [DeskContext.for_settings(desk.settings, desk.db) for _ in range(4)]
    results: list[Told] = []
    errors: list[BaseException] = []

    def job(ctx: DeskContext) -> None:
        try:
            results.append(run_alerts(desk.db, ctx))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(len(r.opened) for r in results) == 1
    assert len(_alerts(desk)) == len(ADMINS)


def test_without_admin_addresses_an_incident_is_logged_and_recorded(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="echodesk.desk.jobs.alerts")
    desk.reconfigure(admin_addresses=())
    DbHealth(desk.db, "relay").failed("relay", "Connection refused")
    assert run_alerts(desk.db, desk.ctx).opened == ("connector:relay",)
    assert _alerts(desk) == []
    assert "alert: relay failing since" in caplog.text


def test_a_mailbox_that_goes_quiet_is_alerted_once_and_cleared_when_mail_comes(
    desk: Desk,
) -> None:
    account = ImapAccount(
        name="support", host="127.0.0.1", user="u", tls=False, quiet_alert_after=30
    )
    desk.reconfigure(imap=(account,))
    envelope = Envelope(source="imap", peer="support/INBOX")
    row = desk.intake.accept(make_mail(message_id="q1@customer.test"), envelope)
    desk.run_worker_until_idle()
    assert run_alerts(desk.db, desk.ctx) == Told()  # mail a moment ago: not quiet
    with desk.db.transaction() as session:
        earlier = utcnow() - timedelta(minutes=45)
        moved = update(InboundSpool).where(InboundSpool.id == row).values(received_at=earlier)
        session.execute(moved)
    told = run_alerts(desk.db, desk.ctx)
    assert told.opened == ("quiet:imap:support/INBOX",)
    assert run_alerts(desk.db, desk.ctx) == Told()
    desk.intake.accept(make_mail(message_id="q2@customer.test"), envelope)
    desk.run_worker_until_idle()
    assert run_alerts(desk.db, desk.ctx).cleared == ("quiet:imap:support/INBOX",)
