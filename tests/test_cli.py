"""The ``echodesk`` command as a user runs it: a real process, real files, real databases."""

from __future__ import annotations

import json
import mailbox as stdlib_mailbox
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.desk.intake.accept import Intake
from echodesk.mailbox.message import Envelope
from echodesk.store.db import Database
from tests.support.mail import make_mail
from tests.support.postgres import PgCluster, free_port


class Cli:
    def __init__(self, tmp_path: Path, db_url: str | None = None) -> None:
        self.config = tmp_path / "echodesk.yaml"
        self.config.write_text("support_address: support@desk.test\n")
        self.env = {
            **os.environ,
            "ECHODESK_CONFIG": str(self.config),
            "ECHODESK_DATA_DIR": str(tmp_path / "data"),
        }
        self.env.pop("DATABASE_URL", None)
        if db_url:
            self.env["ECHODESK_DATABASE_URL"] = db_url

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        ok: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", *args],
            input=stdin.decode("latin-1") if stdin is not None else None,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            encoding="latin-1" if stdin is not None else "utf-8",
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


def _write_inputs(root: Path) -> list[Path]:
    """One .eml, an mbox of three, a Maildir of two, a folder of two (one nested)."""
    root.mkdir()
    eml = root / "single.eml"
    eml.write_bytes(make_mail(message_id="single@customer.test", subject="Single"))
    box = stdlib_mailbox.mbox(str(root / "three.mbox"))
    ids = ["m0@customer.test", "m1@customer.test", "m2@customer.test"]
    for i, mid in enumerate(ids):
        box.add(
            make_mail(
                message_id=mid,
                subject="Re: Mbox" if i else "Mbox",
                in_reply_to=ids[i - 1] if i else None,
                references=ids[:i] or None,
                sender="bob@customer.test",
            )
        )
    box.flush()
    box.close()
    maildir = stdlib_mailbox.Maildir(str(root / "Maildir"))
    maildir.add(
        make_mail(
            message_id="md1@customer.test", subject="Maildir one", sender="carol@customer.test"
        )
    )
    maildir.add(
        make_mail(
            message_id="md2@customer.test", subject="Maildir two", sender="dave@customer.test"
        )
    )
    folder = root / "folder"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.eml").write_bytes(
        make_mail(message_id="f1@customer.test", subject="Folder", sender="erin@customer.test")
    )
    (folder / "nested" / "b.eml").write_bytes(
        make_mail(
            message_id="f2@customer.test",
            subject="Re: Folder",
            in_reply_to="f1@customer.test",
            sender="erin@customer.test",
        )
    )
    return [eml, root / "three.mbox", root / "Maildir", folder]


def test_ingest_every_kind_of_input_then_list_and_show(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    inputs = _write_inputs(tmp_path / "in")
    summary = cli.json("ingest", *map(str, inputs))
    assert {k: v for k, v in summary.items() if v} == {
        "read": 8,
        "accepted": 8,
        "tickets_created": 5,
        "messages_appended": 3,
    }
    stdin_mail = make_mail(
        message_id="stdin@customer.test", subject="From stdin \xe9", sender="frank@customer.test"
    )
    piped = json.loads(cli.run("ingest", "-", "--json", stdin=stdin_mail).stdout)
    assert piped["tickets_created"] == 1

    again = cli.json("ingest", *map(str, inputs))
    assert again["accepted"] == 8 and again["duplicates"] == 8 and again["tickets_created"] == 0

    tickets = cli.json("tickets")
    assert [t["subject"] for t in tickets] == [
        "Single",
        "Mbox",
        "Maildir one",
        "Maildir two",
        "Folder",
        "From stdin \xe9",
    ]
    mbox_ticket = tickets[1]
    assert mbox_ticket["number"] == "TKT-0002" and mbox_ticket["messages"] == 3
    assert mbox_ticket["customer"] == "bob@customer.test"
    assert set(mbox_ticket) >= {
        "number",
        "status",
        "subject",
        "customer",
        "assignee",
        "tags",
        "messages",
        "created_at",
        "updated_at",
    }
    assert cli.json("tickets", "--status", "closed") == []

    shown = cli.json("show", "TKT-0002")
    assert [m["message_id"] for m in shown["messages"]] == [
        "m0@customer.test",
        "m1@customer.test",
        "m2@customer.test",
    ]
    first = shown["messages"][0]
    assert set(first) >= {
        "direction",
        "message_id",
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "body_text",
        "trimmed_text",
        "thread_reason",
        "attachments",
    }
    assert first["direction"] == "inbound" and first["from"] == "bob@customer.test"

    lines = cli.run("show", "--all", "--json").stdout.splitlines()
    assert [json.loads(line)["number"] for line in lines] == [t["number"] for t in tickets]

    spool = cli.json("spool")
    assert len(spool) == 17
    assert {r["state"] for r in spool} == {"processed", "duplicate"}
    assert cli.json("spool", "--state", "failed") == []
    assert "TKT-0002" in cli.run("show", "TKT-0002").stdout


def test_human_output_and_errors(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    assert "no tickets yet" in cli.run("tickets").stdout
    missing = cli.run("show", "TKT-0099", ok=False)
    assert missing.returncode == 2 and "no ticket TKT-0099" in missing.stderr
    nothing = cli.run("ingest", str(tmp_path / "nope"), ok=False)
    assert nothing.returncode == 2 and "no such file or folder" in nothing.stderr
    bad_retry = cli.run("spool", "retry", "12345", ok=False)
    assert bad_retry.returncode == 2 and "no spool row 12345" in bad_retry.stderr
    cli.config.write_text("support_adress: typo@desk.test\n")
    bad = cli.run("tickets", ok=False)
    assert bad.returncode == 2
    assert "unknown key 'support_adress'" in bad.stderr and "Traceback" not in bad.stderr


def test_postgres_behind_names_the_upgrade_command(tmp_path: Path, pg_cluster: PgCluster) -> None:
    url = pg_cluster.create_database("cli_behind")
    platform_url = url.replace("postgresql+psycopg://", "postgres://")
    cli = Cli(tmp_path)
    env = {"DATABASE_URL": platform_url}
    behind = cli.run("tickets", ok=False, env=env)
    assert behind.returncode == 2 and "run 'echodesk db upgrade'" in behind.stderr
    assert "database at revision" in cli.run("db", "upgrade", env=env).stdout
    assert cli.run("tickets", "--json", env=env).stdout.strip() == "[]"


def test_a_failed_message_is_listed_and_retried_by_hand(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.run("db", "upgrade")
    settings = Settings(
        data_dir=tmp_path / "data", support_address="support@desk.test", spool_inline_limit=10
    )
    db = Database(settings.effective_database_url())
    ctx = DeskContext.for_settings(settings)
    raw = make_mail(message_id="x@customer.test")
    row_id = Intake(db, ctx).accept(raw, Envelope(source="smtp"))
    db.dispose()
    blob = next(p for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file())
    blob.unlink()  # the fault: the raw bytes cannot be read

    cli.run("worker", "--until-idle", env={"ECHODESK_SPOOL_MAX_ATTEMPTS": "1"})
    failed = cli.json("spool", "--state", "failed")
    assert [r["id"] for r in failed] == [row_id]
    assert failed[0]["attempts"] == 1 and "missing from the blob store" in failed[0]["last_error"]
    assert row_id == int(cli.run("spool", "--state", "failed").stdout.split()[0])

    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(raw)  # the operator repairs the cause
    retried = cli.run("spool", "retry", str(row_id))
    assert f"spool row {row_id}: processed" in retried.stdout
    assert [t["number"] for t in cli.json("tickets")] == ["TKT-0001"]


def test_ingest_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    script = shutil.which("script")
    assert script, "util-linux 'script' is needed to give the command a terminal"
    cli = Cli(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.eml").write_bytes(
            make_mail(message_id=f"p{i}@customer.test", subject=f"Subject {i}")
        )
    command = shlex.join([sys.executable, "-m", "echodesk.cli", "ingest", str(folder)])
    proc = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout
    assert "ingesting" in proc.stdout and "100%" in proc.stdout
    assert "read 3 message(s): 3 tickets created" in proc.stdout


def test_the_worker_picks_up_new_mail_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.run("db", "upgrade")
    listen = f"127.0.0.1:{free_port()}"  # the worker runs the SMTP receiver too
    proc = subprocess.Popen(
        [sys.executable, "-m", "echodesk.cli", "worker", "--smtp", listen],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        settings = Settings(data_dir=tmp_path / "data", support_address="support@desk.test")
        db = Database(settings.effective_database_url())
        Intake(db, DeskContext.for_settings(settings)).accept(
            make_mail(message_id="live@customer.test"), Envelope(source="smtp")
        )
        db.dispose()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if cli.json("tickets"):
                break
            time.sleep(0.2)
        assert [t["number"] for t in cli.json("tickets")] == ["TKT-0001"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
