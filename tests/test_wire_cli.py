"""``echodesk poll --once`` and ``echodesk serve`` fetching from a real Dovecot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.dovecot import PASSWORD, start_dovecot
from tests.support.mail import make_mail
from tests.support.serve import EchoProcess


def _imap_env(port: int, user: str) -> dict[str, str]:
    account = {
        "name": "support",
        "host": "127.0.0.1",
        "port": port,
        "tls": False,
        "user": user,
        "password": PASSWORD,
    }
    return {"ECHODESK_IMAP": json.dumps([account])}


def _poll_once(echo: EchoProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "poll", "--once"],
        env=echo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_poll_once_fetches_and_processes_then_finds_nothing_new(tmp_path: Path) -> None:
    dovecot = start_dovecot()
    try:
        with dovecot.client("cron") as other:
            for n in range(2):
                other.append(
                    "INBOX", make_mail(message_id=f"p{n}@customer.test", subject=f"Polled {n}")
                )
        echo = EchoProcess(tmp_path, **_imap_env(dovecot.port, "cron"))

        def poll() -> dict[str, object]:
            out = subprocess.run(
                [sys.executable, "-m", "echodesk.cli", "poll", "--once"],
                env=echo.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert out.returncode == 0, out.stderr
            return dict(json.loads(out.stdout))

        assert poll() == {"fetched": {"support": 2}, "processed": 2}
        assert poll() == {"fetched": {"support": 0}, "processed": 0}
        assert sorted(t["subject"] for t in echo.cli("tickets")) == ["Polled 0", "Polled 1"]
    finally:
        dovecot.destroy()


def test_serve_runs_the_pollers_alongside_the_receiver(tmp_path: Path) -> None:
    dovecot = start_dovecot()
    try:
        echo = EchoProcess(tmp_path, **_imap_env(dovecot.port, "live")).start()
        try:
            with dovecot.client("live") as other:
                other.append(
                    "INBOX",
                    make_mail(message_id="idle@customer.test", subject="Fetched while serving"),
                )
            tickets = echo.wait_for_tickets(1, timeout=60)
            assert tickets[0]["subject"] == "Fetched while serving"
            assert echo.cli("spool")[0]["source"] == "imap"
        finally:
            assert echo.stop() == 0
        assert "imap poller stopped" in echo.log.read_text()
    finally:
        dovecot.destroy()


def test_poll_reports_an_unreachable_server_clearly(tmp_path: Path) -> None:
    echo = EchoProcess(tmp_path, **_imap_env(1, "nobody"))
    out = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "poll", "--once"],
        env=echo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "IMAP account 'support'" in out.stderr and "Traceback" not in out.stderr
