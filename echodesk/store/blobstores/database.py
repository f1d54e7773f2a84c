"""Bytes in the configured database (``blob_store: database``).

A value is cut into 1 MiB rows of ``blob_chunks``; its ``blobs`` row (key and
size) is written last, in the same transaction, so a reader that finds the
row finds every chunk, and one that does not finds nothing. Reads fetch one
chunk per query, so a stream holds one chunk in memory and a whole read
holds the value once (plus one chunk).

On PostgreSQL a value is written in a short transaction of its own, on its
own connection. SQLite admits one writer at a time: when the calling thread
already holds the write transaction (the receiver spooling a large message,
the outbox queueing one), the chunks go into that transaction instead of
waiting behind it, and commit or vanish with the rows that name them.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Table, delete, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from echodesk.store import bulk
from echodesk.store.blobs import CHUNK, BlobStoreError, check_key, verified, verify_stream
from echodesk.store.db import _IMMEDIATE, Database
from echodesk.store.models import Blob, BlobChunk
from echodesk.store.types import utcnow

_blobs = cast(Table, Blob.__table__)
_chunks = cast(Table, BlobChunk.__table__)
#: Keys listed per query by :meth:`DatabaseBlobStore.keys`.
_PAGE = 1000


class DatabaseBlobStore:
    """Content-addressed values in ``blobs`` / ``blob_chunks`` of ``db``."""

    name = "database"
    fork_safe = False

    def __init__(self, db: Database, *, chunk_size: int = CHUNK) -> None:
        self.db = db
        self.chunk_size = chunk_size
        # SQLite: BEGIN IMMEDIATE without db.writing()'s in-process queue, which the
        # calling thread may hold already (a transaction whose first write is a blob).
        self._writer = db.engine.execution_options(**{_IMMEDIATE: True})

    def put(self, data: bytes, *, durable: bool = True) -> str:
        return self.put_many([data], durable=durable)[0]

    def put_many(self, values: Sequence[bytes], *, durable: bool = True) -> list[str]:
        """Every value in one transaction: the keys already stored are skipped, the
        chunks of the others written in one statement, then their ``blobs`` rows."""
        keys = [hashlib.sha256(data).hexdigest() for data in values]
        if not keys:
            return keys
        with self._writing() as conn:
            if not durable and self.db.is_postgres:
                # Its own transaction need not wait for the disk: a later durable commit
                # (the rows naming it) flushes the log up to and past this one.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            stored = select(_blobs.c.key).where(_blobs.c.key.in_(set(keys)))
            have = set(conn.execute(stored).scalars())
            new = {key: data for key, data in zip(keys, values, strict=True) if key not in have}
            chunks = [row for key, data in new.items() for row in self._chunk_rows(key, data)]
            now = utcnow()
            rows = [{"key": k, "size": len(d), "created_at": now} for k, d in new.items()]
            # A key already there is skipped: a concurrent writer of the same key wins.
            bulk.insert_rows(conn, _chunks, chunks, conflict=())
            bulk.insert_rows(conn, _blobs, rows, conflict=())
        return keys

    def _chunk_rows(self, key: str, data: bytes) -> list[dict[str, Any]]:
        view = memoryview(data)
        return [
            {"key": key, "seq": seq, "data": view[start : start + self.chunk_size]}
            for seq, start in enumerate(range(0, len(data), self.chunk_size))
        ]

    def get(self, key: str) -> bytes:
        check_key(key)
        out = io.BytesIO()
        with self._reading() as conn:
            size = self._size(conn, key)
            seq = 0
            while out.tell() < size:
                chunk = self._chunk(conn, key, seq)
                if chunk is None:
                    break  # a chunk is gone: the hash below says so
                out.write(chunk)
                seq += 1
        return verified(key, out.getvalue())

    def stream(self, key: str) -> Iterator[bytes]:
        check_key(key)
        with self._reading() as conn:
            size = self._size(conn, key)
        return verify_stream(key, self._chunks(key, size))

    def _chunks(self, key: str, size: int) -> Iterator[bytes]:
        """One short read per chunk: a slow consumer holds no connection."""
        seq = done = 0
        while done < size:
            with self._reading() as conn:
                chunk = self._chunk(conn, key, seq)
            if chunk is None:
                return
            done += len(chunk)
            seq += 1
            yield chunk

    def delete(self, key: str) -> None:
        check_key(key)
        with self._writing() as conn:
            conn.execute(delete(_blobs).where(_blobs.c.key == key))
            conn.execute(delete(_chunks).where(_chunks.c.key == key))

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._reading() as conn:
            return conn.execute(select(_blobs.c.key).where(_blobs.c.key == key)).first() is not None

    def keys(self) -> Iterator[str]:
        after = ""
        while True:
            with self._reading() as conn:
                page = list(
                    conn.execute(
                        select(_blobs.c.key)
                        .where(_blobs.c.key > after)
                        .order_by(_blobs.c.key)
                        .limit(_PAGE)
                    ).scalars()
                )
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1]

    def _size(self, conn: Connection, key: str) -> int:
        size = conn.execute(select(_blobs.c.size).where(_blobs.c.key == key)).scalar()
        if size is None:
            raise KeyError(key)
        return int(size)

    def _chunk(self, conn: Connection, key: str, seq: int) -> bytes | None:
        data = conn.execute(
            select(_chunks.c.data).where(_chunks.c.key == key, _chunks.c.seq == seq)
        ).scalar()
        return None if data is None else bytes(data)

    def _held(self) -> Connection | None:
        return None if self.db.is_postgres else _held_writer(self.db.engine)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with _failing("written"):
            held = self._held()
            if held is not None:
                yield held
            elif self.db.is_postgres:
                with self.db.writing() as conn:
                    yield conn
            else:
                with self._writer.begin() as conn:
                    yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with _failing("read"):
            held = self._held()
            if held is not None:
                yield held
            else:
                with self.db.engine.connect() as conn:
                    yield conn


@contextmanager
def _failing(what: str) -> Iterator[None]:
    """A database that cannot be reached is a blob store that cannot be used."""
    try:
        yield
    except OperationalError as exc:
        raise BlobStoreError(f"the database blob store cannot be {what}: {exc.orig}") from exc


# -- SQLite: which connection holds this thread's write transaction ----------------------

_local = threading.local()


def _writers() -> list[Connection]:
    found: list[Connection] | None = getattr(_local, "writers", None)
    if found is None:
        found = _local.writers = []
    return found


def _held_writer(engine: Engine) -> Connection | None:
    """This thread's open write transaction on ``engine``'s database, if any."""
    writers = _writers()
    writers[:] = [c for c in writers if not c.closed and c.in_transaction()]
    for conn in reversed(writers):
        if conn.engine.url == engine.url:
            return conn
    return None


@event.listens_for(Engine, "begin")
def _began(conn: Connection) -> None:
    if conn.dialect.name == "sqlite" and conn.get_execution_options().get(_IMMEDIATE):
        _writers().append(conn)


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _ended(conn: Connection) -> None:
    writers = _writers()
    if conn in writers:
        writers.remove(conn)
