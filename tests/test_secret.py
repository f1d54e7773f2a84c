"""The signing secret lives in the database: shared by every process, kept across restarts.

Real processes, real databases (SQLite and PostgreSQL): ``echodesk serve``
restarted on an empty data folder, processes racing for the first secret,
an upgrade from the old ``<data_dir>/secret`` file, and ``echodesk secret
rotate`` with its grace period.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.desk.tokens import Addresses, keyring_for
from echodesk.errors import StoreError
from echodesk.serving import web_app
from echodesk.store import migrate
from echodesk.store import secrets as secret_store
from echodesk.store.db import Database
from echodesk.store.models import InstallationSecret
from echodesk.store.secrets import Keyring, StoredSecret
from echodesk.store.types import utcnow
from tests.support.agent import agent_reply, notifications, text_of
from tests.support.desk import Desk
from tests.support.livedesk import live_desk
from tests.support.mail import make_mail
from tests.support.websignin import sign_in


class Cli:
    """``echodesk`` as an operator runs it, on one data folder (one machine)."""

    def __init__(self, root: Path, db_url: str, **env: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.data = root / "data"
        config = root / "echodesk.yaml"
        config.write_text("support_address: support@desk.test\n")
        inherited = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ECHODESK_SECRET")
        }
        self.env = {
            **inherited,
            "ECHODESK_CONFIG": str(config),
            "ECHODESK_DATA_DIR": str(self.data),
            "ECHODESK_DATABASE_URL": db_url,
            **env,
        }

    def run(self, *args: str, ok: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    def verifies(self, address: str) -> bool:
        proc = self.run("secret", "check", address, ok=False)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode == 0

    def ingest(self, raw: bytes, name: str) -> None:
        path = self.data.parent / name
        path.write_bytes(raw)
        self.run("ingest", str(path))


def _reply_to(msg: EmailMessage) -> str:
    return str(msg["Reply-To"].addresses[0].addr_spec)


def _stored(db_url: str) -> list[StoredSecret]:
    db = Database(db_url)
    try:
        return secret_store.load(db)
    finally:
        db.dispose()


# -- a restart on an empty disk -------------------------------------------------------------


def test_a_restart_with_an_empty_data_folder_still_verifies_a_notification_made_before(
    tmp_path: Path, db_url: str
) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    with live_desk(before, db_url) as desk:
        desk.smtp(make_mail(), "support@desk.test", "alice@customer.test")
        (note,) = desk.mail_to("bob@desk.test", 1)
        bounce_address = next(r.mail_from for r in desk.relay.received)
    assert not (before / "data" / "secret").exists()  # nothing of it on the local disk
    shutil.rmtree(before)  # the dyno is gone, and its disk with it

    with live_desk(after, db_url) as desk:
        raw, to = agent_reply(note, "#priority urgent\n\nHello Alice, unplug it please.")
        desk.smtp(raw, to, "bob@desk.test")
        (answer,) = desk.mail_to("alice@customer.test", 1)
        assert text_of(answer).strip() == "Hello Alice, unplug it please."
        assert answer["X-Echodesk-Loop"] == note["X-Echodesk-Loop"]  # the same installation
        desk.settle()
        assert desk.ticket()["priority"] == "urgent"
        check = Cli(after, db_url).run("secret", "check", bounce_address)
        assert "bounce address of outbox row" in check.stdout
    assert not (after / "data" / "secret").exists()


# -- the first secret: one, whoever makes it ------------------------------------------------

_RACE = """
import sys, time
from pathlib import Path
from echodesk.config import Settings
from echodesk.desk.tokens import keyring_for
url, data, start = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
keyring = keyring_for(Settings(database_url=url, data_dir=data))
while time.time() < start:
    time.sleep(0.0005)
print(keyring.root().decode())
"""


def test_processes_racing_for_the_first_secret_all_end_up_with_the_same_one(
    tmp_path: Path, db_url: str
) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    db.dispose()
    start = time.time() + 4  # every process imported and waiting, then all at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, db_url, str(tmp_path / f"machine{i}"), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    seen = {out.strip() for out, _ in outputs}
    (stored,) = _stored(db_url)
    assert seen == {stored.value.decode()} and len(stored.value) >= 40
    assert not any((tmp_path / f"machine{i}").exists() for i in range(8))  # no local files


def test_an_old_secret_file_is_adopted_so_upgrading_breaks_no_address(
    tmp_path: Path, db_url: str
) -> None:
    old = Cli(tmp_path / "old-host", db_url)
    old.run("db", "upgrade")
    old.data.mkdir(parents=True, exist_ok=True)
    (old.data / "secret").write_text("the-secret-of-an-older-version\n")
    settings = Settings(support_address="support@desk.test")
    signed = Addresses.for_settings(settings, b"the-secret-of-an-older-version")
    address = signed.agent_reply_address(7, 3)
    assert old.verifies(address)  # the first process adopts the file's secret
    (stored,) = _stored(db_url)
    assert stored.value == b"the-secret-of-an-older-version"
    # Another machine, with no file or with a stray one of its own, uses the database's.
    fresh = Cli(tmp_path / "new-host", db_url)
    assert fresh.verifies(address) and fresh.verifies(signed.bounce_address(12))
    stray = Cli(tmp_path / "stray-host", db_url)
    stray.data.mkdir(parents=True)
    (stray.data / "secret").write_text("another-machine's-own-secret\n")
    assert stray.verifies(address)
    other = Addresses.for_settings(settings, b"another-machine's-own-secret")
    assert not stray.verifies(other.agent_reply_address(7, 3))
    assert len(_stored(db_url)) == 1


def test_the_secret_setting_takes_precedence_and_is_rotated_there(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url, ECHODESK_SECRET="set-by-the-operator")
    cli.run("db", "upgrade")
    settings = Settings(support_address="support@desk.test")
    address = Addresses.for_settings(settings, b"set-by-the-operator").reply_address(5)
    assert cli.verifies(address)
    refused = cli.run("secret", "rotate", ok=False)
    assert refused.returncode == 2 and "setting 'secret'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _stored(db_url) == []  # the database's secret was never needed


# -- rotation -------------------------------------------------------------------------------


def _answer(cli: Cli, note: EmailMessage, text: str, mid: str) -> None:
    raw, _to = agent_reply(note, text, message_id=mid)
    cli.ingest(raw, f"{mid}.eml")


def _show(cli: Cli) -> dict[str, Any]:
    return dict(json.loads(cli.run("show", "TKT-0001", "--json").stdout))


def _time_passes(db_url: str, delta: timedelta) -> None:
    """Move every stored secret's times back by ``delta``: as if ``delta`` had passed."""
    db = Database(db_url)
    try:
        with db.transaction() as session:
            for row in session.scalars(select(InstallationSecret)):
                row.created_at -= delta
                row.signs_from -= delta
    finally:
        db.dispose()


def test_after_rotate_an_old_address_verifies_during_the_grace_period_and_not_after(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url, ECHODESK_SECRET_GRACE_DAYS="2")
    cli.run("db", "upgrade")
    cli.run("agents", "add", "bob@desk.test", "--name", "Bob Agent")
    cli.ingest(make_mail(), "customer.eml")
    cli.run("outbox", "send")
    (note,) = notifications(cli.data / "outbox", "bob@desk.test")
    old_address = _reply_to(note)

    rotated = json.loads(cli.run("secret", "rotate", "--switch-after", "0", "--json").stdout)
    assert [(r["generation"], r["state"]) for r in rotated] == [(1, "verifying"), (2, "signing")]
    _time_passes(db_url, timedelta(days=1, hours=23))  # still in the grace period
    assert cli.verifies(old_address)
    _answer(cli, note, "#priority high\n\nHello Alice, we are on it.", "in-grace@desk.test")
    assert _show(cli)["priority"] == "high"

    cli.ingest(make_mail(message_id="m2@customer.test", subject="Another one"), "c2.eml")
    cli.run("outbox", "send")
    new_note = notifications(cli.data / "outbox", "bob@desk.test")[-1]
    assert new_note["Subject"].startswith("[TKT-0002]") and _reply_to(new_note) != old_address
    assert new_note["X-Echodesk-Loop"] == note["X-Echodesk-Loop"]  # one installation still

    _time_passes(db_url, timedelta(hours=1, minutes=1))  # the grace period is over
    assert not cli.verifies(old_address)
    _answer(cli, note, "#priority low\n\nForget it.", "after-grace@desk.test")
    assert _show(cli)["priority"] == "high"  # not executed
    assert cli.verifies(_reply_to(new_note))  # what the new secret signed verifies
    states = json.loads(cli.run("secret", "list", "--json").stdout)
    assert [r["state"] for r in states] == ["retired", "signing"]


def test_a_new_secret_verifies_everywhere_before_anyone_signs_with_it(db_url: str) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    now = [utcnow()]
    try:
        keyring = Keyring(
            secret_store.database_loader(db),
            timedelta(days=1),
            refresh_seconds=0,
            clock=lambda: now[0],
        )
        first = keyring.signing()
        made = secret_store.rotate(db, secret_store.new_secret(), now[0] + timedelta(minutes=3))
        assert keyring.signing() == first  # not yet: other processes may not know it
        assert keyring.verifying() == (first, made.value)  # but everyone accepts it
        now[0] += timedelta(minutes=3)
        assert keyring.signing() == made.value and keyring.verifying() == (made.value, first)
        assert keyring.root() == first  # the installation id stays
        now[0] += timedelta(days=1)
        assert keyring.verifying() == (made.value,)
        # A generation never signs before the one it follows.
        one = secret_store.rotate(db, b"x" * 43, now[0] - timedelta(days=9))
        assert one.generation == 3 and one.signs_from == made.signs_from
    finally:
        db.dispose()


def test_a_process_keeps_its_secrets_while_the_database_is_away() -> None:
    rows = [StoredSecret(1, b"s1", utcnow(), utcnow())]
    calls: list[int] = []

    def loader() -> list[StoredSecret]:
        calls.append(1)
        if len(calls) > 1:
            raise StoreError("cannot reach the database")
        return rows

    keyring = Keyring(loader, timedelta(days=1), refresh_seconds=0)
    assert keyring.signing() == b"s1" and keyring.signing() == b"s1"
    assert len(calls) == 2
    with pytest.raises(StoreError):
        Keyring(lambda: (_ for _ in ()).throw(StoreError("down")), timedelta(0)).signing()


def test_web_sessions_outlive_a_rotation_within_the_grace_period(team: Desk) -> None:
    now = [utcnow()]
    grace = timedelta(hours=1)
    keyring = Keyring(
        secret_store.database_loader(team.db), grace, refresh_seconds=0, clock=lambda: now[0]
    )
    ctx = DeskContext(settings=team.settings, blobs=team.ctx.blobs, keyring=keyring)
    app = web_app(team.settings, team.db, ctx)
    app.config["TESTING"] = True
    client: FlaskClient = app.test_client()
    sign_in(client, team)
    old_cookie = _cookie(client)
    secret_store.rotate(team.db, secret_store.new_secret(), now[0])
    now[0] += timedelta(minutes=1)
    assert client.get("/").status_code == 200  # the cookie of the old key still counts
    assert _cookie(client) != old_cookie  # and comes back signed with the new key
    now[0] += grace
    assert client.get("/").status_code == 200
    stale: FlaskClient = app.test_client()
    stale.set_cookie("echodesk_session", old_cookie)
    assert stale.get("/").status_code == 302  # the old key's cookie, after the grace period


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("echodesk_session")
    assert cookie is not None
    return cookie.value


def test_a_context_built_without_a_database_reads_the_settings_database(
    tmp_path: Path, db_url: str
) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    db.dispose()
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data")
    one = keyring_for(settings).signing()
    assert keyring_for(settings).signing() == one
    assert not (tmp_path / "data").exists()  # nothing written to the data folder
