"""Deploying: the Procfile, app.json and the systemd unit, run as the platforms run them.

A Heroku-style deployment is started from the Procfile's own lines (the
release phase, gunicorn on ``$PORT``, the worker) on PostgreSQL, each dyno
with a data folder of its own, mail coming in by the Postmark-style webhook
and going out through an SMTP relay. The start checks are run as the
``echodesk`` command: each missing setting is named once, on its own line.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from echodesk.config import Settings, load
from echodesk.serving import deployment_problems
from tests.support.agent import agent_reply, text_of
from tests.support.mail import make_mail
from tests.support.postgres import PgCluster, free_port
from tests.support.relay import RecordingRelay

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN = "hook-token"


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _env(root: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no settings file, a data folder of its own, the venv first."""
    root.mkdir(parents=True, exist_ok=True)
    platform = ("PORT", "DYNO", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHODESK_")}
    for var in platform:
        env.pop(var, None)
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ECHODESK_DATA_DIR": str(root / "data"),
            "ECHODESK_SUPPORT_ADDRESS": "support@desk.test",
            "ECHODESK_VERIFY_MAIL": "false",
            "ECHODESK_AGENT_AUTH": "signature-only",
            **extra,
        }
    )
    return env


def _cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echodesk.cli", *args],
        env=_env(root, **env),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _errors(stderr: str, kind: str = "error") -> list[str]:
    """The setting named by each 'echodesk: <kind>:' line, in order."""
    assert "Traceback" not in stderr, stderr
    found = re.findall(rf"^echodesk: {kind}: setting '(\w+)'", stderr, re.MULTILINE)
    return list(found)


class Dyno:
    """One Procfile process, started as the platform starts it (a shell runs the line)."""

    def __init__(self, kind: str, root: Path, **env: str) -> None:
        self.log = root / f"{kind}.log"
        root.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                ["bash", "-c", _procfile()[kind]],
                env=_env(root, DYNO=f"{kind}.1", **env),
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text()


def _wait_http(url: str, proc: Dyno | subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    popen = proc.proc if isinstance(proc, Dyno) else proc
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            extra = proc.output() if isinstance(proc, Dyno) else ""
            raise AssertionError(f"exited with {popen.returncode}: {extra[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def _hook(base: str, raw: bytes, to: str) -> dict[str, Any]:
    """Postmark's inbound webhook: the raw message, and whom it was for."""
    body = json.dumps({"RawEmail": raw.decode(), "ToFull": [{"Email": to}]}).encode()
    auth = base64.b64encode(f"postmark:{TOKEN}".encode()).decode()
    request = urllib.request.Request(
        f"{base}/inbound",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def _mail_to(relay: RecordingRelay, address: str, count: int) -> list[EmailMessage]:
    deadline = time.monotonic() + 90
    found: list[EmailMessage] = []
    while time.monotonic() < deadline:
        found = [r.message() for r in relay.received if r.rcpt == (address,)]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{address} got {len(found)} messages, expected {count}")


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def _sign_in(base: str, relay: RecordingRelay) -> tuple[str, Callable[..., str]]:
    """Sign in as Bob by the emailed link: the archive's first page, and Bob's browser."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def fetch(url: str, form: dict[str, str] | None = None) -> str:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with browser.open(url, data=data, timeout=30) as answer:
            return str(answer.read().decode())

    fetch(f"{base}/signin", {"email": "bob@desk.test", "csrf": _csrf(fetch(f"{base}/signin"))})
    mail = _mail_to(relay, "bob@desk.test", 2)[-1]
    match = re.search(r"(\S+/signin/\S+)", text_of(mail))
    assert match and match.group(1).startswith(f"{base}/signin/"), text_of(mail)
    link = match.group(1)
    return fetch(link, {"csrf": _csrf(fetch(link))}), fetch


def _scrape(url: str) -> dict[str, float]:
    """One Prometheus scrape with the token: each sample's value by its name and labels."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.fixture
def pg_url(pg_cluster: PgCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"deploy_{os.getpid()}_{re.sub(r'[^a-z0-9]', '', request.node.name.lower())[:30]}"
    url = pg_cluster.create_database(name)
    try:
        yield url.replace("postgresql+psycopg://", "postgres://")  # as Heroku writes it
    finally:
        pg_cluster.drop_database(name)


# -- Heroku-style: release, web and worker from the Procfile ---------------------------------


def test_procfile_release_web_and_worker_run_a_desk_across_dynos(
    tmp_path: Path, pg_url: str
) -> None:
    procfile = _procfile()
    assert procfile["release"] == "echodesk db upgrade"
    assert "$PORT" in procfile["web"] or "${PORT" in procfile["web"]
    release = subprocess.run(
        ["bash", "-c", procfile["release"]],
        env=_env(tmp_path / "release", DATABASE_URL=pg_url, DYNO="release.1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert release.returncode == 0 and "database at revision" in release.stdout, release.stderr
    added = _cli(tmp_path / "run", "agents", "add", "bob@desk.test", DATABASE_URL=pg_url)
    assert added.returncode == 0, added.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with RecordingRelay() as relay:
        shared = {
            "DATABASE_URL": pg_url,
            "ECHODESK_WEB_URL": base,
            "ECHODESK_WEBHOOK_TOKEN": TOKEN,
            "ECHODESK_RELAY": json.dumps(relay.settings()),
            "ECHODESK_METRICS_TOKEN": TOKEN,
        }
        web = Dyno("web", tmp_path / "web", PORT=str(port), **shared)
        worker_metrics = f"http://127.0.0.1:{free_port()}/metrics"
        worker = Dyno(
            "worker",
            tmp_path / "worker",
            ECHODESK_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
            ECHODESK_METRICS_LISTEN=worker_metrics.removeprefix("http://").removesuffix("/metrics"),
            **shared,
        )
        try:
            _wait_http(f"{base}/signin", web)
            assert _hook(base, make_mail(), "support@desk.test")["accepted"] is True
            (note,) = _mail_to(relay, "bob@desk.test", 1)  # made by the worker dyno
            raw, to = agent_reply(note, "#priority urgent\n\nHello Alice, unplug it please.")
            _hook(base, raw, to)  # the agent's answer comes in through the web dyno
            (answer,) = _mail_to(relay, "alice@customer.test", 1)
            assert text_of(answer).strip() == "Hello Alice, unplug it please."
            page, browser = _sign_in(base, relay)
            assert "TKT-0001" in page  # whichever gunicorn worker answers
            _metrics_of_both_dynos(base, browser, worker_metrics)
        finally:
            assert worker.stop() == 0, worker.output()[-3000:]
            web.stop()
    for dyno in ("web", "worker", "release", "run"):
        data = tmp_path / dyno / "data"
        assert not (data / "secret").exists() and not (data / "outbox").exists()


def _metrics_of_both_dynos(base: str, browser: Callable[..., str], worker: str) -> None:
    """The web dyno's gunicorn workers pool what they count: every scrape, whichever worker
    answers it, counts every search; the worker dyno shows its own work on metrics_listen."""
    words = ["printer", "unplug", "fire", "alice", "nothing"] * 6
    with ThreadPoolExecutor(10) as pool:  # side by side: both gunicorn workers answer some
        list(pool.map(lambda word: browser(f"{base}/?q={word}"), words))
    for _ in range(6):
        assert _scrape(f"{base}/metrics")["echodesk_search_seconds_count"] == len(words)
    figures = _scrape(worker)
    assert figures['echodesk_messages_processed_total{outcome="processed"}'] >= 2
    assert figures['echodesk_delivery_attempts_total{result="sent"}'] >= 2
    assert figures['echodesk_up{part="database"}'] == 1


def test_gunicorn_refuses_to_start_without_web_url_on_a_dyno(tmp_path: Path, pg_url: str) -> None:
    assert _cli(tmp_path, "db", "upgrade", DATABASE_URL=pg_url).returncode == 0
    web = Dyno("web", tmp_path / "web", PORT=str(free_port()), DATABASE_URL=pg_url)
    try:
        web.proc.wait(timeout=60)
    finally:
        web.stop()
    assert web.proc.returncode != 0
    assert "setting 'web_url'" in web.output() and "setting 'relay'" not in web.output()


# -- the start checks ------------------------------------------------------------------------


def test_a_multi_machine_start_names_each_missing_setting_once(tmp_path: Path) -> None:
    env = {"ECHODESK_MULTI_MACHINE": "true"}
    for command, expected in (
        ("worker", ["database_url", "relay"]),
        ("web", ["database_url", "web_url"]),
        ("serve", ["database_url", "relay", "web_url"]),
    ):
        proc = _cli(tmp_path, command, **env)
        assert proc.returncode == 2, proc.stderr
        assert _errors(proc.stderr) == expected, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == len(expected), proc.stderr


def test_on_a_heroku_dyno_the_checks_refuse_what_is_missing(tmp_path: Path, pg_url: str) -> None:
    assert _cli(tmp_path, "db", "upgrade", DATABASE_URL=pg_url).returncode == 0
    worker = _cli(tmp_path, "worker", DATABASE_URL=pg_url, DYNO="worker.1")
    assert worker.returncode == 2 and _errors(worker.stderr) == ["relay"], worker.stderr
    allowed = _cli(
        tmp_path, "worker", "--until-idle", DATABASE_URL=pg_url, DYNO="worker.1"
    )  # a one-off run that sends nothing is not refused
    assert allowed.returncode == 0, allowed.stderr


def test_on_postgresql_the_checks_warn_and_the_web_process_honours_port(
    tmp_path: Path, pg_url: str
) -> None:
    assert _cli(tmp_path, "db", "upgrade", DATABASE_URL=pg_url).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "echodesk.cli", "web"],
        env=_env(tmp_path, DATABASE_URL=pg_url, PORT=str(port)),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/signin", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert _errors(err, "warning") == ["web_url"], err
    assert f"0.0.0.0:{port}" in err


# -- app.json and the systemd unit -----------------------------------------------------------


def _setting_of(var: str) -> str:
    assert var.startswith("ECHODESK_"), var
    key = var.removeprefix("ECHODESK_").lower()
    assert key in Settings.__dataclass_fields__, f"{var} names no setting"
    return key


def test_app_json_declares_postgres_and_settings_that_pass_the_start_checks(
    tmp_path: Path,
) -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert [a["plan"].split(":")[0] for a in app["addons"]] == ["heroku-postgresql"]
    assert set(app["formation"]) == set(_procfile()) - {"release"}
    env: dict[str, dict[str, Any]] = app["env"]
    for var, spec in env.items():
        _setting_of(var)
        assert spec.get("description"), var
    example = {
        "ECHODESK_SUPPORT_ADDRESS": "support@example.com",
        "ECHODESK_WEB_URL": "https://desk.example.com",
        "ECHODESK_RELAY": json.dumps(
            {
                "host": "smtp.postmarkapp.com",
                "port": 587,
                "starttls": True,
                "user": "t",
                "password": "t",
            }
        ),
    }
    required = {var for var, spec in env.items() if spec.get("required") and "value" not in spec}
    assert required == set(example)
    given = {var: spec["value"] for var, spec in env.items() if "value" in spec}
    generated = {var: "x" for var, spec in env.items() if spec.get("generator") == "secret"}
    empty = tmp_path / "echodesk.yaml"
    empty.write_text("")
    platform = {"DATABASE_URL": "postgres://u:p@db/echo", "DYNO": "web.1"}
    settings = load(empty, {**given, **generated, **example, **platform})
    assert settings.multi_machine and settings.webhook_token == "x"
    for role in ("web", "worker"):
        assert deployment_problems(settings, "postgresql", role) == []


def test_the_systemd_unit_runs_serve_with_its_environment_file(tmp_path: Path) -> None:
    unit_text = (ROOT / "deploy" / "systemd" / "echodesk.service").read_text()
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_text)
    service = unit["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["serve"]
    assert shlex.split(service["ExecStartPre"])[1:] == ["db", "upgrade"]
    assert service["EnvironmentFile"] == "/etc/echodesk/echodesk.env"
    assert service["KillSignal"] == "SIGTERM"
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # the unit file's syntax, with the paths of this machine
        local = unit_text.replace("/opt/echodesk/bin/echodesk", str(BIN / "echodesk"))
        (tmp_path / "echodesk.service").write_text(local)
        verify = subprocess.run(
            [analyze, "verify", str(tmp_path / "echodesk.service")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "echodesk.service:" not in verify.stderr, verify.stderr
    # The example environment file is complete: it loads and passes the start checks.
    env: dict[str, str] = {}
    for line in (ROOT / "deploy" / "systemd" / "echodesk.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            var, _, value = line.partition("=")
            env[var] = value
            if var.startswith("ECHODESK_") and var not in (
                "ECHODESK_CONFIG",
                "ECHODESK_RELAY_PASSWORD",
            ):
                _setting_of(var)
    env.pop("ECHODESK_CONFIG")  # the YAML file beside it is optional
    (tmp_path / "echodesk.yaml").write_text("")
    settings = load(tmp_path / "echodesk.yaml", env)
    assert settings.multi_machine and settings.relay is not None and settings.relay.password
    assert deployment_problems(settings, "postgresql", "serve") == []
