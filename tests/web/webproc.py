"""``echodesk web`` in a subprocess, and a small HTTP client that keeps its cookies.

The hardening tests go over real HTTP to a real server, as an attacker
would: the client can send any bytes (chunked bodies, odd paths) and can
connect from another loopback address (127.0.0.2, ...) to be another client.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from echodesk.store.db import Database
from tests.support.postgres import free_port
from tests.support.websignin import csrf, link_for

HOOK = "hook-secret"
SNAP = "snap-secret"
API = "api-secret"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), (
            self.status,
            self.headers.get("content-type"),
            self.text[:300],
        )
        return json.loads(self.body)


class Client:
    """One visitor: its own source address and its own cookies."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port = port
        self.source = source
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=60, source_address=(self.source, 0)
        )
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        chunked = body is not None and not isinstance(body, bytes)
        try:
            conn.request(method, path, body=body, headers=sent, encode_chunked=chunked)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            self.cookies.update({k: m.value for k, m in cookie.items()})
        headers_out = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, headers_out, data)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, body: bytes | str, token: str, **headers: str) -> Answer:
        data = body.encode() if isinstance(body, str) else body
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        return self.request("POST", path, data, {**sent, **headers})

    def post_form(self, path: str, fields: dict[str, str], **headers: str) -> Answer:
        from urllib.parse import urlencode

        sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self.request("POST", path, urlencode(fields).encode(), sent)

    def ask_for_link(self, email: str, **headers: str) -> Answer:
        """Fill in the sign-in form as a person does: load it, send the address."""
        form = self.get("/signin", headers)
        assert form.status == 200, form.text[:300]
        return self.post_form("/signin", {"email": email, "csrf": csrf(form.text)}, **headers)

    def sign_in(self, db: Database, email: str) -> None:
        """Ask for a link, open it from the mail, confirm: signed in."""
        assert self.ask_for_link(email).status == 200
        path = "/" + link_for(db, email).split("/", 3)[3]
        confirm = self.get(path)
        answer = self.post_form(path, {"csrf": csrf(confirm.text)})
        assert answer.status == 302, answer.text[:300]


def _listening(port: int) -> bool:
    """Whether a server accepts on ``port`` (not Linux connecting a socket to itself)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return bool(sock.getsockname() != sock.getpeername())
    except OSError:
        return False


class WebServer:
    """``echodesk web`` on its own port, on the given database, with every token set."""

    def __init__(self, home: Path, db_url: str, name: str = "web", **env: str) -> None:
        self.port = free_port()
        config = home / "echodesk.yaml"
        config.write_text("support_address: support@desk.test\n")
        self.env = {
            **os.environ,
            "ECHODESK_CONFIG": str(config),
            "ECHODESK_DATA_DIR": str(home / "data"),
            "ECHODESK_DATABASE_URL": db_url,
            "ECHODESK_WEBHOOK_TOKEN": HOOK,
            "ECHODESK_SNAPSHOT_TOKEN": SNAP,
            "ECHODESK_API_TOKEN": API,
            **env,
        }
        self.env.pop("DATABASE_URL", None)
        self.log = home / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> WebServer:
        self.cli("db", "upgrade")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "echodesk.cli", "web", "--web", f"127.0.0.1:{self.port}"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"echodesk web exited: {self.log.read_text()[-3000:]}")
            if _listening(self.port):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"echodesk web did not answer: {self.log.read_text()[-3000:]}")

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(self.port, source)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def errors_logged(self) -> str:
        """The tracebacks the server logged (an unhandled exception is one)."""
        text = self.log.read_text(errors="replace")
        return text if "Traceback" in text else ""
