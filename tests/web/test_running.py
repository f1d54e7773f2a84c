"""The archive as operators run it: inside ``echodesk serve``, alone with ``echodesk web``,
and under gunicorn as the Procfile's ``web:`` line starts it. Real processes, real HTTP."""

from __future__ import annotations

import json
import os
import shlex
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.serve import EchoProcess

REPO = Path(__file__).resolve().parents[2]
TOKEN = "read-only-api-token"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _wait_for_http(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-3000:]}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url}: {log.read_text()[-3000:]}")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _signin_page_is_served(base: str) -> None:
    status, headers, _ = _get(base + "/")
    assert status == 302 and "/signin" in headers["Location"]  # nothing for strangers
    status, headers, body = _get(base + "/signin")
    assert status == 200 and '<meta charset="utf-8">' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "echodesk.yaml"
    config.write_text("support_address: support@desk.test\n")
    env = {
        **os.environ,
        "ECHODESK_CONFIG": str(config),
        "ECHODESK_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }
    env.pop("DATABASE_URL", None)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[EchoProcess]:
    echo = EchoProcess(tmp_path, ECHODESK_API_TOKEN=TOKEN).start()
    try:
        yield echo
    finally:
        echo.stop()


def test_serve_answers_mail_and_the_archive_together(served: EchoProcess) -> None:
    base = f"http://127.0.0.1:{served.web_port}"
    assert served.proc is not None
    _wait_for_http(base + "/signin", served.proc, served.log)
    _signin_page_is_served(base)
    with smtplib.SMTP("127.0.0.1", served.port, timeout=10) as smtp:
        smtp.sendmail(
            "alice@customer.test",
            ["support@desk.test"],
            make_mail(message_id="web@customer.test", subject="Seen on the web"),
        )
    served.wait_for_tickets(1)
    status, _, body = _get(base + "/api/tickets", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert [t["subject"] for t in json.loads(body)["tickets"]] == ["Seen on the web"]
    status, _, _ = _get(base + "/api/tickets", {"Authorization": "Bearer wrong"})
    assert status == 401


def test_echodesk_web_runs_only_the_archive(tmp_path: Path) -> None:
    web_port, smtp_port = free_port(), free_port()
    env = _env(tmp_path, ECHODESK_SMTP_LISTEN=f"127.0.0.1:{smtp_port}")
    subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "db", "upgrade"], env=env, check=True, timeout=120
    )
    log = tmp_path / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "echodesk.cli", "web", "--web", f"127.0.0.1:{web_port}"],
            env=env,
            stdout=out,
            stderr=out,
            text=True,
        )
    try:
        _wait_for_http(f"http://127.0.0.1:{web_port}/signin", proc, log)
        _signin_page_is_served(f"http://127.0.0.1:{web_port}")
        assert not _listening(smtp_port)  # no receiver in this process
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_the_procfile_web_line_serves_the_archive_under_gunicorn(tmp_path: Path) -> None:
    (line,) = [
        entry for entry in (REPO / "Procfile").read_text().splitlines() if entry.startswith("web:")
    ]
    command = shlex.split(line.removeprefix("web:").strip())
    assert command[0] == "gunicorn"
    port = free_port()
    env = _env(tmp_path, PORT=str(port), ECHODESK_WEB_PREFIX="/tickets")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "db", "upgrade"], env=env, check=True, timeout=120
    )
    expanded = [part.replace("${PORT:-8025}", str(port)) for part in command]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(expanded, env=env, stdout=out, stderr=out, text=True)
    try:
        base = f"http://127.0.0.1:{port}/tickets"
        _wait_for_http(base + "/signin", proc, log)
        _signin_page_is_served(base)
        status, _, body = _get(f"http://127.0.0.1:{port}/tickets/api/openapi.json")
        assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
