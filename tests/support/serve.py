"""Running the real ``echodesk serve`` in a subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.postgres import free_port


class EchoProcess:
    """``echodesk serve`` with its own settings file, data folder and SMTP port."""

    def __init__(self, tmp_path: Path, db_url: str | None = None, **env: str) -> None:
        self.port = free_port()
        self.web_port = free_port()
        config = tmp_path / "echodesk.yaml"
        config.write_text("support_address: support@desk.test\n")
        self.env = {
            **os.environ,
            "ECHODESK_CONFIG": str(config),
            "ECHODESK_DATA_DIR": str(tmp_path / "data"),
            **env,
        }
        self.env.pop("DATABASE_URL", None)
        if db_url:
            self.env["ECHODESK_DATABASE_URL"] = db_url
        self.proc: subprocess.Popen[str] | None = None
        self.log = tmp_path / "serve.log"

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def start(self) -> EchoProcess:
        """``echodesk db upgrade`` (as an operator runs it per release), then ``serve``."""
        upgrade = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", "db", "upgrade"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "echodesk.cli",
                    "serve",
                    "--smtp",
                    f"127.0.0.1:{self.port}",
                    "--web",
                    f"127.0.0.1:{self.web_port}",
                ],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                text=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"echodesk serve exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"echodesk serve did not listen: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        return self.proc.returncode

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def wait_for_tickets(self, count: int, timeout: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        tickets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            tickets = self.cli("tickets")
            if len(tickets) >= count:
                return tickets
            time.sleep(0.3)
        raise AssertionError(f"expected {count} tickets, have {len(tickets)}")
