"""A live desk: ``echodesk serve`` in a subprocess, mail in by SMTP, mail out to a relay."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

from tests.support.relay import RecordingRelay
from tests.support.serve import EchoProcess


class Desk:
    def __init__(self, echo: EchoProcess, relay: RecordingRelay) -> None:
        self.echo = echo
        self.relay = relay

    def smtp(self, raw: bytes, rcpt: str, sender: str, source: str = "127.0.0.1") -> None:
        """Send by SMTP from ``source`` (any 127.x address: another host to SPF)."""
        with smtplib.SMTP(
            "127.0.0.1", self.echo.port, timeout=30, source_address=(source, 0)
        ) as client:
            client.sendmail(sender, [rcpt], raw)

    def mail_to(self, address: str, count: int, timeout: float = 60) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        found: list[EmailMessage] = []
        while time.monotonic() < deadline:
            found = [r.message() for r in self.relay.received if r.rcpt == (address,)]
            if len(found) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{address} got {len(found)} messages, expected {count}")

    def settle(self) -> None:
        """Wait until every received message is processed and the outbox is sent."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.echo.cli("spool", "--state", "pending") and not self.echo.cli(
                "outbox", "--state", "queued"
            ):
                return
            time.sleep(0.2)
        raise AssertionError("Echo did not settle")

    def ticket(self, label: str = "TKT-0001") -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", "show", label, "--json"],
            env=self.echo.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


AGENTS = (("bob@desk.test", "Bob Agent"), ("eve@desk.test", "Eve Agent"))


@contextmanager
def live_desk(tmp_path: Path, db_url: str, **env: str) -> Iterator[Desk]:
    """``echodesk serve`` with a recording relay and the two agents Bob and Eve."""
    with RecordingRelay() as relay:
        echo = EchoProcess(tmp_path, db_url, ECHODESK_RELAY=json.dumps(relay.settings()), **env)
        echo.start()
        for who, name in AGENTS:
            subprocess.run(
                [sys.executable, "-m", "echodesk.cli", "agents", "add", who, "--name", name],
                env=echo.env,
                check=True,
                capture_output=True,
                timeout=60,
            )
        try:
            yield Desk(echo, relay)
        finally:
            echo.stop()
