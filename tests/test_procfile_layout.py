"""The Procfile's layout on loopback: no process reads another's disk.

``echodesk web`` (archive + webhook), ``echodesk worker`` and a third process
running ``echodesk serve`` (its SMTP receiver) each have their own data
folder, as dynos on separate machines do, and share only one PostgreSQL (and
the blob store inside it, the default there). A 3 MB message with a PDF
posted to the webhook, and mail with attachments sent by SMTP to ``serve``,
become tickets; every attachment downloads byte for byte from the web
process, and still does after it restarts with an empty data folder.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from echodesk.store.db import Database
from tests.support.postgres import PgCluster, free_port
from tests.support.serve import EchoProcess
from tests.web.webproc import API, HOOK, WebServer


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    with pg_cluster.fresh_database("layout") as url:
        yield url


def _mail(subject: str, files: dict[str, bytes], sender: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@customer.test>"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg.set_content(f"{subject}: the files are attached.\n")
    for name, data in files.items():
        kind = ("application", "pdf") if name.endswith(".pdf") else ("image", "png")
        msg.add_attachment(data, maintype=kind[0], subtype=kind[1], filename=name)
    return msg.as_bytes(policy=SMTP)


def _worker(home: Path, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ECHODESK_CONFIG": os.devnull,
        "ECHODESK_SUPPORT_ADDRESS": "support@desk.test",
        "ECHODESK_DATA_DIR": str(home / "data"),
        "ECHODESK_DATABASE_URL": url,
    }
    env.pop("DATABASE_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    with (home / "worker.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "echodesk.cli", "worker", "--smtp", f"127.0.0.1:{free_port()}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def _tickets(web: WebServer, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 120
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        answer = web.client().get("/api/tickets", {"Authorization": f"Bearer {API}"})
        found = answer.json()["tickets"] if answer.status == 200 else []
        if len(found) >= count:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{len(found)} tickets, expected {count}")


def _downloads(web: WebServer, url: str, numbers: list[str]) -> dict[str, bytes]:
    """Every attachment of the tickets, as a signed-in agent downloads it."""
    agent = web.client()
    db = Database(url)
    try:
        agent.sign_in(db, "bob@desk.test")
    finally:
        db.dispose()
    files: dict[str, bytes] = {}
    for label in numbers:
        page = agent.get(f"/ticket/{int(label.split('-')[1])}")
        assert page.status == 200, page.text[:300]
        for path, name in re.findall(r'href="(/attachment/\d+)" download>([^<]+)</a>', page.text):
            got = agent.get(path)
            assert got.status == 200, (name, got.status, got.text[:200])
            files[name] = got.body
    return files


def test_web_worker_and_receiver_on_separate_disks_share_everything_through_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    pdf = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)  # over spool_inline_limit
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(40_000)
    sheet = b"%PDF-1.4\n" + os.urandom(200_000)
    for home in ("web", "web-again", "serve"):
        (tmp_path / home).mkdir()
    web = WebServer(tmp_path / "web", pg_url).start()
    worker = _worker(tmp_path / "worker", pg_url)
    serve = EchoProcess(tmp_path / "serve", pg_url).start()
    try:
        web.cli("agents", "add", "bob@desk.test", "--name", "Bob")
        raw = _mail("Contract scan", {"contract.pdf": pdf}, "Alice <alice@customer.test>")
        posted = web.client().post_json("/inbound", json.dumps({"RawEmail": raw.decode()}), HOOK)
        assert posted.status == 200, posted.text[:300]
        with smtplib.SMTP("127.0.0.1", serve.port, timeout=30) as client:
            sent = _mail("Screenshots", {"screen.png": png, "sheet.pdf": sheet}, "carl@c.test")
            client.sendmail("carl@c.test", ["support@desk.test"], sent)
        numbers = [str(t["number"]) for t in _tickets(web, 2)]
        want = {"contract.pdf": pdf, "screen.png": png, "sheet.pdf": sheet}
        assert _downloads(web, pg_url, numbers) == want
        web.stop()  # a new dyno: the same web process with an empty data folder
        fresh = WebServer(tmp_path / "web-again", pg_url).start()
        try:
            assert _downloads(fresh, pg_url, numbers) == want
        finally:
            fresh.stop()
    finally:
        web.stop()
        serve.stop()
        worker.terminate()
        worker.wait(timeout=60)


def _env(home: Path, url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ECHODESK_CONFIG": os.devnull,
        "ECHODESK_SUPPORT_ADDRESS": "support@desk.test",
        "ECHODESK_DATA_DIR": str(home),
        "ECHODESK_DATABASE_URL": url,
        "ECHODESK_FLOOD_LIMIT": "0",
    }
    env.pop("DATABASE_URL", None)
    return env


def test_two_workers_on_separate_disks_drain_one_spool_exactly_once(
    tmp_path: Path, pg_url: str
) -> None:
    from sqlalchemy import func, select

    from echodesk.config import load
    from echodesk.desk.context import DeskContext
    from echodesk.desk.intake.accept import Intake
    from echodesk.mailbox.message import Envelope
    from echodesk.store.models import Attachment, InboundSpool, Message

    loader = _env(tmp_path / "loader", pg_url)
    subprocess.run([sys.executable, "-m", "echodesk.cli", "db", "upgrade"], env=loader, check=True)
    files = {f"m{n}.pdf": b"%PDF-1.4\n" + os.urandom(50_000 + n) for n in range(60)}
    settings = load(environ=loader)
    db = Database(pg_url)
    try:
        mails = [_mail(f"Order {n}", {n: data}, f"c{n}@c.test") for n, data in files.items()]
        Intake(db, DeskContext.for_settings(settings)).accept_many(
            (raw, Envelope(source="file")) for raw in mails
        )
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "echodesk.cli", "worker", "--until-idle"],
                env=_env(tmp_path / f"worker{i}", pg_url),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in (1, 2)
        ]
        assert [w.wait(timeout=300) for w in workers] == [0, 0]
        reader = DeskContext.for_settings(load(environ=_env(tmp_path / "reader", pg_url)))
        with db.reading() as session:
            states = session.execute(
                select(InboundSpool.state, func.count()).group_by(InboundSpool.state)
            ).all()
            assert states == [("processed", 60)]
            per_row = select(Message.spool_id, func.count()).group_by(Message.spool_id)
            assert sorted(n for _, n in session.execute(per_row)) == [1] * 60
            stored = session.execute(select(Attachment.filename, Attachment.storage_key)).all()
            assert {name: reader.blobs.get(key) for name, key in stored} == files
    finally:
        db.dispose()
