"""``echodesk blobs migrate`` and ``blobs check`` as an operator runs them: the real
command, real databases (SQLite and PostgreSQL), and a real S3-protocol server
(moto's, on loopback) holding the objects."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from echodesk.store.db import Database
from echodesk.store.models import Blob, BlobChunk
from tests.support.s3 import S3Server
from tests.test_cli import Cli

#: Raw mail over this many bytes goes to the blob store (so spool and outbox use it too).
SMALL_LIMIT = {"ECHODESK_SPOOL_INLINE_LIMIT": "1500"}


def _mail(n: int, files: dict[str, bytes], sender: str = "alice@customer.test") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.test"
    msg["Subject"] = f"Invoice {n}"
    msg["Message-ID"] = f"<inv{n}@customer.test>"
    msg.set_content("Please see the attached file.\n" * 80)  # over the inline limit
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=SMTP)


def _ingest(cli: Cli, tmp_path: Path, env: dict[str, str]) -> None:
    """Three messages (two carry the same file) and an agent's reply with an attachment."""
    shared = b"%PDF-1.4 " + os.urandom(3000)
    folder = tmp_path / "mail"
    folder.mkdir()
    files = [{"a.pdf": shared}, {"b.pdf": shared, "c.pdf": os.urandom(2000)}, {}]
    for n, attached in enumerate(files, start=1):
        (folder / f"{n}.eml").write_bytes(_mail(n, attached))
    cli.run("db", "upgrade", env=env)
    cli.run("ingest", str(folder), env=env)
    cli.run("agents", "add", "bob@desk.test", "--name", "Bob", env=env)
    answer, invoice = tmp_path / "answer.txt", tmp_path / "invoice.pdf"
    answer.write_text("Here is the corrected invoice.\n" * 60)
    invoice.write_bytes(os.urandom(2500))
    cli.run(
        "reply", "TKT-0001", "--as", "bob@desk.test", "--file", str(answer),
        "--attach", str(invoice), env=env,
    )  # fmt: skip


def _json(cli: Cli, *args: str, env: dict[str, str], status: int = 0) -> Any:
    proc = cli.run(*args, "--json", ok=False, env=env)
    assert proc.returncode == status, proc.stderr
    return json.loads(proc.stdout)


def _local_keys(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "data" / "blobs").rglob("*") if p.is_file()}


def test_migrate_from_the_local_folder_to_s3_and_on_to_the_database(
    db_url: str, tmp_path: Path, s3: S3Server
) -> None:
    cli = Cli(tmp_path, db_url)
    spec = s3.bucket()
    base = {**SMALL_LIMIT, **s3.env()}
    local = {**base, "ECHODESK_BLOB_STORE": "local", "ECHODESK_DATA_DIR_SHARED": "true"}
    _ingest(cli, tmp_path, local)
    keys = _local_keys(tmp_path)
    assert len(keys) >= 6  # 2 files + 1 shared, raw mail, outgoing mail

    moved = _json(cli, "blobs", "migrate", "--to", spec, env=local)
    assert moved["to"] == spec + "/" and moved["keys"] == len(keys)
    assert moved["copied"] == len(keys) and moved["missing"] == moved["corrupted"] == []
    assert {name.rpartition("/")[2] for name in s3.objects(spec)} == keys
    again = _json(cli, "blobs", "migrate", "--to", spec, env=local)
    assert again["copied"] == 0 and again["present"] == len(keys)  # idempotent
    gone = sorted(keys)[0]
    s3.remove(spec, gone)  # as if the first run had stopped before this one
    resumed = _json(cli, "blobs", "migrate", "--to", spec, env=local)
    assert resumed["copied"] == 1 and resumed["present"] == len(keys) - 1

    on_s3 = {**base, "ECHODESK_BLOB_STORE": spec}
    assert _json(cli, "blobs", "check", env=on_s3)["present"] == len(keys)
    out = tmp_path / "alice.zip"
    cli.run("export", "alice@customer.test", "--out", str(out), env=on_s3)
    with zipfile.ZipFile(out) as archive:
        assert len([n for n in archive.namelist() if n.startswith("files/")]) == 4

    to_db = cli.run("blobs", "migrate", "--to", "database", env=on_s3).stdout
    assert f"{len(keys)} copied" in to_db and "now set blob_store: database" in to_db
    on_db = {**base, "ECHODESK_BLOB_STORE": "database"}
    checked = cli.run("blobs", "check", env=on_db).stdout
    assert f"{len(keys)} blob(s) in database: {len(keys)} intact" in checked
    assert "0 missing or corrupted" in checked


@pytest.mark.parametrize("kind", ["s3", "database"])
def test_check_names_each_missing_and_corrupted_blob_and_its_ticket(
    db_url: str, tmp_path: Path, s3: S3Server, kind: str
) -> None:
    cli = Cli(tmp_path, db_url)
    spec = s3.bucket() if kind == "s3" else "database"
    env = {**SMALL_LIMIT, **s3.env(), "ECHODESK_BLOB_STORE": spec}
    _ingest(cli, tmp_path, env)
    first = _json(cli, "blobs", "check", env=env)
    assert first["missing"] == first["corrupted"] == [] and first["keys"] >= 6
    attachments = json.loads(cli.run("show", "TKT-0002", "--json", env=env).stdout)
    files = {a["filename"]: a["sha256"] for m in attachments["messages"] for a in m["attachments"]}
    missing, damaged = files["c.pdf"], files["b.pdf"]  # b.pdf is a.pdf of TKT-0001 too
    if kind == "s3":
        s3.remove(spec, missing)
        s3.write(spec, damaged, b"not the pdf")
    else:
        db = Database(db_url)
        with db.writing() as conn:
            conn.execute(delete(Blob).where(Blob.key == missing))
            conn.execute(
                update(BlobChunk).where(BlobChunk.key == damaged).values(data=b"not the pdf")
            )
        db.dispose()

    found = _json(cli, "blobs", "check", env=env, status=1)
    [gone] = found["missing"]
    assert gone["key"] == missing and gone["ticket"] == "TKT-0002"
    assert re.fullmatch(r"attachment \d+ \(c\.pdf\)", gone["what"])
    assert [(n["key"], n["ticket"]) for n in found["corrupted"]] == [
        (damaged, "TKT-0001"),  # a.pdf: the same bytes, so the same key
        (damaged, "TKT-0002"),  # b.pdf
    ]
    plain = cli.run("blobs", "check", ok=False, env=env)
    assert plain.returncode == 1 and "2 missing or corrupted" in plain.stdout
    assert f"missing: {missing} attachment" in plain.stdout
    assert "(c.pdf) of TKT-0002 in " in plain.stdout


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_refuses_to_start_on_a_local_folder(db_url: str, tmp_path: Path) -> None:
    cli = Cli(tmp_path, db_url)
    refused = cli.run("worker", "--until-idle", ok=False, env={"ECHODESK_BLOB_STORE": "local"})
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "'local' keeps attachments and large messages in" in refused.stderr
    assert "data_dir_shared: true" in refused.stderr
    cli.run("db", "upgrade")
    assert cli.run("worker", "--until-idle").returncode == 0  # no setting: the database


def test_migrate_reports_what_the_source_lacks_and_refuses_a_store_onto_itself(
    tmp_path: Path,
) -> None:
    cli = Cli(tmp_path)
    _ingest(cli, tmp_path, SMALL_LIMIT)
    keys = sorted(_local_keys(tmp_path))
    lost = tmp_path / "data" / "blobs" / keys[0][:2] / keys[0]
    lost.unlink()
    moved = _json(cli, "blobs", "migrate", "--to", "database", env=SMALL_LIMIT, status=1)
    assert moved["copied"] == len(keys) - 1
    assert {n["key"] for n in moved["missing"]} == {keys[0]}
    same = cli.run("blobs", "migrate", "--to", "local", ok=False)
    assert same.returncode == 2 and "already" in same.stderr
    unknown = cli.run("blobs", "check", "--store", "ftp://files", ok=False)
    assert unknown.returncode == 2 and "unknown blob store" in unknown.stderr


def test_migrate_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    script = shutil.which("script")
    assert script, "util-linux 'script' is needed to give the command a terminal"
    cli = Cli(tmp_path)
    _ingest(cli, tmp_path, SMALL_LIMIT)
    command = shlex.join(
        [sys.executable, "-m", "echodesk.cli", "blobs", "migrate", "--to", "database"]
    )
    proc = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        env={**cli.env, **SMALL_LIMIT},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout
    assert "copying" in proc.stdout and "100%" in proc.stdout
    assert "copied" in proc.stdout
