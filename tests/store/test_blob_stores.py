"""The blob stores: one contract for the local folder, the database (SQLite and
PostgreSQL) and S3 (moto's real S3-protocol server on loopback), and what a user
sees when a store fails: mail kept pending and retried, 451 at SMTP, a clear page."""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import func, select

from echodesk.config import Settings, load
from echodesk.desk.context import DeskContext
from echodesk.desk.intake.accept import Intake
from echodesk.desk.intake.worker import Worker
from echodesk.desk.privacy.erase import erase
from echodesk.errors import ConfigError
from echodesk.mailbox.smtp import SmtpReceiver
from echodesk.store import migrate
from echodesk.store.blobs import (
    CHUNK,
    BlobStore,
    BlobStoreError,
    CorruptBlobError,
    LocalBlobStore,
    open_blob_store,
)
from echodesk.store.blobstores.database import DatabaseBlobStore
from echodesk.store.blobstores.s3 import S3BlobStore
from echodesk.store.db import Database
from echodesk.store.models import Attachment, Blob, BlobChunk, InboundSpool, Message, Ticket
from tests.support.blobs import Unreachable, tamper
from tests.support.desk import Desk
from tests.support.postgres import PgCluster, free_port
from tests.support.s3 import S3Server, settings_for
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

CONTRACT = pytest.mark.parametrize(
    ("store", "db_url"),
    [("local", "sqlite"), ("database", "sqlite"), ("database", "postgresql"), ("s3", "sqlite")],
    indirect=True,
    ids=["local", "database-sqlite", "database-postgresql", "s3"],
)


@pytest.fixture
def store(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Iterator[BlobStore]:
    """A real store of the kind asked for (the database one in ``db_url``)."""
    kind: str = request.param
    if kind == "s3":
        server: S3Server = request.getfixturevalue("s3")
        settings = Settings(data_dir=tmp_path / "data", **server.settings())
        yield open_blob_store(server.bucket(), settings)
        return
    db = Database(db_url)
    migrate.upgrade(db)
    try:
        yield open_blob_store(kind, Settings(data_dir=tmp_path / "data", database_url=db_url), db)
    finally:
        db.dispose()


def _mail(message_id: str, files: dict[str, bytes], *, body: str = "See attached.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Invoice"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    for name, data in files.items():
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=SMTP)


# -- the contract, on every store ------------------------------------------------------


@CONTRACT
def test_a_value_is_kept_once_under_its_sha256_until_deleted(store: BlobStore) -> None:
    key = store.put(b"attachment bytes")
    assert key == hashlib.sha256(b"attachment bytes").hexdigest()
    assert store.put(b"attachment bytes", durable=False) == key
    assert store.exists(key) and store.get(key) == b"attachment bytes"
    empty = store.put(b"")
    assert store.get(empty) == b""
    assert sorted(store.keys()) == sorted([key, empty])
    store.delete(key)
    store.delete(key)  # deleting twice is no error
    assert not store.exists(key) and list(store.keys()) == [empty]
    with pytest.raises(KeyError):
        store.get(key)
    with pytest.raises(KeyError):
        store.stream(key)


@CONTRACT
def test_many_values_at_once_are_kept_each_under_its_key_in_order(store: BlobStore) -> None:
    kept = store.put(b"kept before")
    big = os.urandom(CHUNK + 7)
    values = [b"first", b"kept before", big, b"first", b""]
    keys = store.put_many(values, durable=False)
    assert keys == [hashlib.sha256(v).hexdigest() for v in values]
    assert keys[1] == kept
    assert [store.get(k) for k in keys] == values
    assert sorted(store.keys()) == sorted(set(keys))
    assert store.put_many([]) == []


@CONTRACT
def test_a_large_value_comes_back_whole_and_streams_in_chunks(store: BlobStore) -> None:
    data = os.urandom(2 * CHUNK + 12345)
    key = store.put(data)
    assert store.get(key) == data
    chunks = list(store.stream(key))
    assert b"".join(chunks) == data
    assert len(chunks) >= 3 and max(len(c) for c in chunks) <= CHUNK


@CONTRACT
def test_writers_of_the_same_bytes_at_once_store_one_value(store: BlobStore) -> None:
    data = os.urandom(300_000)
    start = threading.Barrier(8)
    keys: list[str] = []

    def write() -> None:
        start.wait()
        keys.append(store.put(data))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert keys == [hashlib.sha256(data).hexdigest()] * 8
    assert list(store.keys()) == keys[:1] and store.get(keys[0]) == data


@CONTRACT
def test_keys_that_are_not_a_sha256_reach_nothing(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "A" * 64, "", "ab/" + "0" * 61, "0" * 63 + "/"):
        with pytest.raises(KeyError):
            store.get(bad)
        with pytest.raises(KeyError):
            store.exists(bad)
        with pytest.raises(KeyError):
            store.delete(bad)


@CONTRACT
def test_changed_bytes_are_never_handed_out(store: BlobStore) -> None:
    key = store.put(b"the real invoice")
    tamper(store, key)
    with pytest.raises(CorruptBlobError):
        store.get(key)
    with pytest.raises(CorruptBlobError):
        b"".join(store.stream(key))
    assert store.exists(key)  # still there, only wrong: 'blobs check' tells them apart


# -- the database store ------------------------------------------------------------------


def test_the_database_keeps_chunks_and_writes_the_row_last(db_url: str) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    store = DatabaseBlobStore(db)
    data = os.urandom(2 * CHUNK + 5)
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(store.put(data))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    key = hashlib.sha256(data).hexdigest()
    assert keys == [key] * 4  # four writers of the same bytes at once: one value
    with db.reading() as session:
        sizes = session.execute(
            select(BlobChunk.seq, func.length(BlobChunk.data)).order_by(BlobChunk.seq)
        ).all()
        assert [tuple(r) for r in sizes] == [(0, CHUNK), (1, CHUNK), (2, 5)]
        assert session.scalar(select(Blob.size)) == len(data)
    db.dispose()


def test_a_value_written_in_a_rolled_back_transaction_leaves_no_half(db_url: str) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    store = DatabaseBlobStore(db)
    data = os.urandom(CHUNK + 1)
    with pytest.raises(RuntimeError), db.writing():
        key = store.put(data)  # SQLite: joins this transaction; PostgreSQL: its own
        assert store.exists(key)
        raise RuntimeError("the caller fails after storing")
    with db.reading() as session:
        chunk_keys = set(session.scalars(select(BlobChunk.key)))
        row_keys = set(session.scalars(select(Blob.key)))
    assert chunk_keys == row_keys  # never chunks without their row
    if store.exists(key):
        assert store.get(key) == data
    db.dispose()


def test_a_transaction_whose_first_write_is_a_blob_does_not_wait_for_itself(
    db_url: str,
) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    store = DatabaseBlobStore(db)
    done: list[str] = []

    def queue_first() -> None:  # as outbox.queue may, before any other statement
        with db.transaction():
            done.append(store.put(b"composed mail"))

    thread = threading.Thread(target=queue_first, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and store.get(done[0]) == b"composed mail"
    db.dispose()


def test_postgres_without_a_setting_keeps_bytes_in_the_database(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("blob_default")
    desk = Desk(url, tmp_path / "data", spool_inline_limit=2000)
    try:
        assert desk.settings.effective_blob_store() == "database"
        assert isinstance(desk.ctx.blobs, DatabaseBlobStore)
        pdf = b"%PDF-1.4 " + os.urandom(5000)
        desk.deliver(_mail("big@customer.test", {"invoice.pdf": pdf}))
        with desk.db.reading() as session:
            spooled = session.scalars(select(InboundSpool)).one()
            stored = set(session.scalars(select(Blob.key)))
        assert spooled.raw_key in stored and hashlib.sha256(pdf).hexdigest() in stored
        assert not (tmp_path / "data" / "blobs").exists()  # nothing on this machine's disk
    finally:
        desk.close()
        pg_cluster.drop_database("blob_default")


# -- settings: which store ---------------------------------------------------------------


def _load(tmp_path: Path, **env: str) -> Settings:
    config = tmp_path / "echodesk.yaml"
    config.write_text("support_address: support@desk.test\n")
    return load(config, environ={"ECHODESK_DATA_DIR": str(tmp_path / "data"), **env})


def test_the_default_store_follows_the_database(tmp_path: Path) -> None:
    assert _load(tmp_path).effective_blob_store() == "local"
    pg = {"DATABASE_URL": "postgres://echo@db.example/echo"}
    assert _load(tmp_path, **pg).effective_blob_store() == "database"
    s3 = _load(tmp_path, **pg, ECHODESK_BLOB_STORE="s3://files/echo")
    assert s3.effective_blob_store() == "s3://files/echo"


def test_postgres_on_a_local_folder_is_refused_unless_it_is_shared(tmp_path: Path) -> None:
    pg = {"DATABASE_URL": "postgres://echo@db.example/echo", "ECHODESK_BLOB_STORE": "local"}
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, **pg)
    why = str(refused.value)
    assert "blob_store" in why and "this machine's disk" in why
    assert "'database'" in why and "data_dir_shared: true" in why
    shared = _load(tmp_path, **pg, ECHODESK_DATA_DIR_SHARED="true")
    assert shared.effective_blob_store() == "local"


@pytest.mark.parametrize(
    "bad", ["disk", "s3://", "s3://Bad_Bucket/x", "ftp://files/echo", "S3://files"]
)
def test_a_blob_store_of_no_known_kind_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="blob_store"):
        _load(tmp_path, ECHODESK_BLOB_STORE=bad)


# -- S3 ----------------------------------------------------------------------------------


def test_s3_keeps_objects_in_the_folder_layout_and_uploads_large_ones_in_parts(
    s3: S3Server, tmp_path: Path
) -> None:
    spec = s3.bucket()
    store = open_blob_store(spec, Settings(data_dir=tmp_path, **s3.settings()))
    assert isinstance(store, S3BlobStore)
    small = store.put(b"hello")
    big_data = os.urandom(9 * 1024 * 1024)  # over the multipart threshold
    big = store.put(big_data)
    assert set(s3.objects(spec)) == {f"echo/{small[:2]}/{small}", f"echo/{big[:2]}/{big}"}
    assert store.get(big) == big_data and store.put(big_data) == big


def test_an_unreachable_store_is_an_error_that_names_it(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    settings = Settings(data_dir=tmp_path, **settings_for(f"http://127.0.0.1:{dead}"))
    s3_store = open_blob_store("s3://nowhere/echo", settings)
    database = DatabaseBlobStore(Database(f"postgresql+psycopg://echo@127.0.0.1:{dead}/echo"))
    key = "0" * 64
    for down in (s3_store, database):
        started = time.monotonic()
        with pytest.raises(BlobStoreError, match=re.escape(down.name)):
            down.put(b"bytes")
        with pytest.raises(BlobStoreError):
            down.get(key)  # unreachable is not 'missing'
        assert time.monotonic() - started < 30
    database.db.dispose()


@pytest.mark.parametrize("kind", ["s3", "database"])
def test_erasing_a_person_deletes_their_stored_bytes(
    s3: S3Server, db_url: str, tmp_path: Path, kind: str
) -> None:
    spec = s3.bucket() if kind == "s3" else "database"
    desk = Desk(
        db_url, tmp_path / "data", blob_store=spec, spool_inline_limit=2000, **s3.settings()
    )
    try:
        pdf = b"%PDF-1.4 " + os.urandom(4000)
        desk.deliver(_mail("erase@customer.test", {"passport.pdf": pdf}))
        assert len(list(desk.ctx.blobs.keys())) == 2  # the raw mail and its attachment
        if kind == "s3":
            assert len(s3.objects(spec)) == 2
        erase(desk.db, desk.ctx, "alice@customer.test", actor="test")
        assert list(desk.ctx.blobs.keys()) == []
        if kind == "s3":
            assert s3.objects(spec) == {}
        else:
            with desk.db.reading() as session:
                assert session.scalar(select(func.count()).select_from(BlobChunk)) == 0
    finally:
        desk.close()


# -- faults: what a user sees when the store fails ---------------------------------------


def test_a_store_down_while_processing_keeps_the_message_pending_until_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    desk = Desk(db_url, tmp_path / "data", spool_retry_seconds=1)
    try:
        outage = Unreachable(desk.ctx.blobs)
        ctx = replace(desk.ctx, blobs=outage)
        row_id = desk.accept(_mail("down@customer.test", {"invoice.pdf": b"%PDF-1.4 invoice"}))
        [outcome] = Worker(desk.db, ctx).run_until_idle()
        assert outcome.spool_id == row_id and outcome.state == "retry"
        with desk.db.reading() as session:
            row = session.get(InboundSpool, row_id)
            assert row is not None and row.state == "pending" and row.attempts == 1
            assert "BlobStoreError" in row.last_error and "cannot be used" in row.last_error
            assert session.scalar(select(func.count()).select_from(Message)) == 0
            assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert Worker(desk.db, ctx).run_until_idle() == []  # not due before its delay
        outage.down = False
        time.sleep(1.1)
        [again] = Worker(desk.db, ctx).run_until_idle()
        assert again.state == "processed" and again.created_ticket
        with desk.db.reading() as session:
            attachment = session.scalars(select(Attachment)).one()
        assert desk.ctx.blobs.get(attachment.storage_key) == b"%PDF-1.4 invoice"
    finally:
        desk.close()


def test_smtp_answers_451_while_the_store_is_down_and_250_when_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    store_port, smtp_port = free_port(), free_port()
    bucket = f"inbound-{uuid.uuid4().hex[:12]}"  # moto's buckets outlive its servers
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        support_address="support@desk.test",
        blob_store=f"s3://{bucket}/echo",
        spool_inline_limit=1000,
        verify_mail=False,
        **settings_for(f"http://127.0.0.1:{store_port}"),
    )
    db = Database(db_url)
    migrate.upgrade(db)
    ctx = DeskContext.for_settings(settings, db)
    receiver = SmtpReceiver.for_settings(settings, Intake(db, ctx).accept, f"127.0.0.1:{smtp_port}")
    receiver.start()
    raw = _mail("large@customer.test", {"scan.pdf": os.urandom(3000)})
    try:
        with (
            smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as client,
            pytest.raises(smtplib.SMTPDataError) as refused,
        ):
            client.sendmail("alice@customer.test", ["support@desk.test"], raw)
        assert refused.value.smtp_code == 451
        with db.reading() as session:
            assert session.scalar(select(func.count()).select_from(InboundSpool)) == 0
        server = S3Server(store_port)  # the store comes back
        try:
            server.client.create_bucket(Bucket=bucket)
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as client:
                client.sendmail("alice@customer.test", ["support@desk.test"], raw)
            with db.reading() as session:
                key = session.scalars(select(InboundSpool.raw_key)).one()
            assert key is not None and len(ctx.blobs.get(key)) > 1000
            assert list(server.objects(f"s3://{bucket}/echo")) == [f"echo/{key[:2]}/{key}"]
        finally:
            server.stop()
    finally:
        receiver.stop()
        db.dispose()


def test_a_missing_damaged_or_unreachable_file_gets_a_page_naming_the_ticket(
    team: Desk,
) -> None:
    team.deliver(_mail("file@customer.test", {"invoice.pdf": b"%PDF-1.4 the invoice"}))
    client = desk_app(team).test_client()
    sign_in(client, team)
    page = client.get("/ticket/1").get_data(as_text=True)
    [link] = re.findall(r'href="(/attachment/\d+)"', page)
    assert client.get(link).data == b"%PDF-1.4 the invoice"
    with team.db.reading() as session:
        key = session.scalars(select(Attachment.storage_key)).one()

    tamper(team.ctx.blobs, key)
    damaged = client.get(link)
    text = damaged.get_data(as_text=True)
    assert damaged.status_code == 410
    assert "invoice.pdf of TKT-0001 is damaged" in text and "echodesk blobs check" in text

    team.ctx.blobs.delete(key)
    gone = client.get(link)
    assert gone.status_code == 410
    assert "invoice.pdf of TKT-0001 is no longer stored" in gone.get_data(as_text=True)

    team.ctx = replace(team.ctx, blobs=Unreachable(team.ctx.blobs))
    down_client = desk_app(team).test_client()
    sign_in(down_client, team)
    down = down_client.get(link)
    assert down.status_code == 503 and down.headers["Retry-After"] == "60"
    assert "TKT-0001 cannot be fetched right now" in down.get_data(as_text=True)


def test_local_store_is_still_the_embedded_default(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = open_blob_store(settings.effective_blob_store(), settings)
    assert isinstance(store, LocalBlobStore)
    key = store.put(b"x")
    assert (tmp_path / "data" / "blobs" / key[:2] / key).read_bytes() == b"x"
