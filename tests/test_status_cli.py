"""``echodesk status``: what it shows, and an exit code a platform check can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text, update

from echodesk.store.connectors import DbHealth
from echodesk.store.db import Database
from echodesk.store.models import InboundSpool
from tests.support.mail import make_mail
from tests.test_cli import Cli


def test_a_fresh_desk_is_well(db_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    out = cli.run("status").stdout
    assert "database    ok" in out and "migrations  current" in out
    assert out.rstrip().endswith("all is well")
    found = cli.json("status")
    assert found["ok"] is True and found["spool"]["counts"]["pending"] == 0


def test_failed_spool_rows_need_a_person(db_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    cli.run("ingest", "-", stdin=make_mail(message_id="x@customer.test"))
    db = Database(db_url)
    try:
        with db.transaction() as session:
            session.execute(update(InboundSpool).values(state="failed", last_error="boom"))
    finally:
        db.dispose()
    proc = cli.run("status", ok=False)
    assert proc.returncode == 1
    assert "needs a person:" in proc.stdout and "1 failed row(s) in the spool" in proc.stdout
    answer = json.loads(cli.run("status", "--json", ok=False).stdout)
    assert answer["ok"] is False and answer["spool"]["counts"]["failed"] == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite upgrades itself
def test_a_schema_behind_the_code_is_reported_with_what_to_run(db_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    db = Database(db_url)
    try:
        with db.transaction() as session:
            session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    finally:
        db.dispose()
    proc = cli.run("status", ok=False)
    assert proc.returncode == 1
    assert "run 'echodesk db upgrade'" in proc.stdout


def test_a_mailbox_failing_longer_than_alert_after_needs_a_person(
    db_url: str, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    db = Database(db_url)
    try:
        health = DbHealth(db, "imap")
        health.succeeded("imap:support/INBOX")
        health.failed("imap:support/INBOX", "IMAP login refused for 'support'")
    finally:
        db.dispose()
    calm = cli.run("status")  # one failure a moment ago: not yet a person's business
    assert "imap:support/INBOX  failing (1 in a row" in calm.stdout
    proc = cli.run("status", ok=False, env={"ECHODESK_ALERT_AFTER": "0"})
    assert proc.returncode == 1
    assert "imap:support/INBOX failing since" in proc.stdout and "login refused" in proc.stdout
    now = {"ECHODESK_ALERT_AFTER": "0"}
    found = json.loads(cli.run("status", "--json", ok=False, env=now).stdout)
    (connector,) = found["connectors"]
    assert connector["consecutive_failures"] == 1 and connector["last_success_at"]
