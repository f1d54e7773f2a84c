"""``echodesk connect NAME``: the one-time consent, run as a person runs it on a terminal.

The command is a real process; the provider is the loopback one of
tests/support/oauth.py. With a device code the test plays the person who
types the code elsewhere; with a browser it plays the browser, which the
provider sends back to the command's loopback listener (or, on another
machine, whose address the person pastes into the terminal).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from echodesk.config import load
from echodesk.desk.tokens import keyring_for
from echodesk.store import oauth as grants
from echodesk.store.db import Database
from tests.support.oauth import Provider


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


class Terminal:
    """``echodesk connect`` running, its output read line by line as a person reads it."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "echodesk.cli", "--config", str(config), "connect", *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if text in line:
                return line

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        self.proc.stdout.close()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code, "".join(self.seen)


def _setup(tmp_path: Path, db_url: str, entry: dict[str, Any]) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "echodesk.yaml"
    settings = {
        "support_address": "support@desk.test",
        "data_dir": str(tmp_path / "data"),
        "database_url": db_url,
        "oauth": [entry],
        "imap": [
            {"name": "support", "host": "127.0.0.1", "user": "support@desk.test", "oauth": "desk"}
        ],
    }
    config.write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "--config", str(config), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return config, env


def _stored(config: Path) -> grants.Grant | None:
    settings = load(config)
    db = Database(settings.effective_database_url())
    try:
        cipher = grants.sealer(keyring_for(settings, db).root())
        return grants.read(db, cipher, "desk")
    finally:
        db.dispose()


def test_connect_completes_the_device_code_flow_and_stores_the_grant(
    tmp_path: Path, db_url: str, provider: Provider
) -> None:
    config, env = _setup(tmp_path, db_url, provider.settings())
    terminal = Terminal(config, env, "desk")
    terminal.wait_for("ECHO-1234")  # the code the person types at the provider
    provider.approve_devices()
    code, output = terminal.finish()
    assert code == 0, output
    assert "connected 'desk'" in output and "imap account 'support'" in output
    grant = _stored(config)
    assert grant is not None and grant.state == grants.CONNECTED
    assert grant.refresh_token in provider.state.refresh

    status = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "--config", str(config), "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = json.loads(status.stdout)
    assert {"name": "desk", "state": "connected", "error": ""} in found["oauth"]


@pytest.mark.parametrize("browser", ["on this machine", "on another machine"])
def test_connect_in_a_browser_uses_pkce_and_the_loopback_redirect(
    browser: str, tmp_path: Path, db_url: str, provider: Provider
) -> None:
    entry = provider.settings(provider="google") | {"device_url": ""}
    config, env = _setup(tmp_path, db_url, entry)
    terminal = Terminal(config, env, "desk")
    url = terminal.wait_for(f"{provider.url}/authorize").strip()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["access_type"] == ["offline"]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    if browser == "on this machine":
        page = requests.get(url, timeout=10)  # the provider sends the browser back to Echo
        assert page.status_code == 200 and "go back to the terminal" in page.text
    else:
        consent = requests.get(url, timeout=10, allow_redirects=False)
        terminal.wait_for("paste here")
        terminal.type(consent.headers["Location"])  # the address the far browser ends on
    code, output = terminal.finish()
    assert code == 0, output
    grant = _stored(config)
    assert grant is not None and grant.state == grants.CONNECTED


def test_a_refused_consent_is_a_clear_error_and_stores_nothing(
    tmp_path: Path, db_url: str, provider: Provider
) -> None:
    entry = provider.settings(provider="generic") | {"device_url": ""}
    config, env = _setup(tmp_path, db_url, entry)
    terminal = Terminal(config, env, "desk")
    url = terminal.wait_for(f"{provider.url}/authorize").strip()
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    requests.get(f"{redirect}?error=access_denied&state=x", timeout=10)
    code, output = terminal.finish()
    assert code != 0 and "access_denied" in output
    assert "Traceback" not in output
    assert _stored(config) is None


def test_connect_names_the_known_entries_when_the_name_is_wrong(
    tmp_path: Path, db_url: str, provider: Provider
) -> None:
    config, env = _setup(tmp_path, db_url, provider.settings())
    code, output = Terminal(config, env, "nope").finish()
    assert code != 0 and "no 'oauth' entry named 'nope'" in output and "known: desk" in output
