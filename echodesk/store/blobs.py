"""Content-addressed storage for bytes: attachments and large raw messages.

Keys are the sha256 of the content, so storing the same file twice costs
nothing and a key never points at changed bytes: every store checks the
bytes it hands out against their key, and says so (:class:`CorruptBlobError`)
instead of returning something else. Three stores fit the protocol, chosen by
the ``blob_store`` setting (:func:`open_blob_store`): the local folder (the
embedded default with SQLite), the database (the default with PostgreSQL,
:mod:`echodesk.store.blobstores.database`) and any S3-compatible service
(:mod:`echodesk.store.blobstores.s3`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from echodesk.errors import NotFoundError, StoreError

if TYPE_CHECKING:
    from echodesk.config import Settings
    from echodesk.store.db import Database

#: How many bytes a stream hands out at a time (and the database store's chunk size).
CHUNK = 1024 * 1024

_KEY = re.compile(r"[0-9a-f]{64}")


class BlobStoreError(StoreError):
    """The blob store cannot be used now (unreachable, refused, misconfigured)."""


class CorruptBlobError(KeyError, StoreError):
    """The bytes stored under a key no longer hash to it: as good as missing (a KeyError
    to those who handle a missing blob), and explained as such (a StoreError)."""

    def __str__(self) -> str:
        return (
            f"the stored bytes of {self.args[0]} do not match their sha256 "
            "(see 'echodesk blobs check')"
        )


class BlobStore(Protocol):
    #: How the store is named in messages: "local folder ...", "database", "s3://...".
    name: str
    #: Whether a process forked from this one may use this very object (files named by
    #: their content may be written by any process; a connection may not be shared).
    fork_safe: bool

    def put(self, data: bytes, *, durable: bool = True) -> str:
        """Store ``data`` and return its key (sha256 hex).

        ``durable=False`` skips the flush to disk: for bytes that can be made
        again from a durable copy (attachments, re-extractable from the raw
        message kept in the spool).
        """
        ...

    def put_many(self, values: Sequence[bytes], *, durable: bool = True) -> list[str]:
        """Store each of ``values`` as :meth:`put` does, together where the store can
        (one transaction in the database store); their keys, in order."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (KeyError if absent, CorruptBlobError if changed)."""
        ...

    def stream(self, key: str) -> Iterator[bytes]:
        """The bytes under ``key`` a chunk at a time: KeyError at once if absent,
        CorruptBlobError after the last chunk if they do not match the key."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self) -> Iterator[str]:
        """Every key stored (in no particular order)."""
        ...


def stored_bytes(raw: bytes | None, raw_key: str | None, blobs: BlobStore, what: str) -> bytes:
    """A message kept inline (``raw``) or in the blob store (``raw_key``).

    Spool and outbox rows keep small messages in the row and large ones in
    the blob store; ``what`` names the row in the error when the bytes are gone.
    """
    if raw is not None:
        return bytes(raw)
    if raw_key:
        try:
            return blobs.get(raw_key)
        except KeyError:
            raise NotFoundError(
                f"{what}: raw bytes missing from the blob store ({raw_key})"
            ) from None
    raise NotFoundError(f"{what} has no raw bytes left")


def check_key(key: str) -> str:
    """``key`` if it is a sha256 in hex; KeyError otherwise (never a path, never a query)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise KeyError(key)
    return key


def verified(key: str, data: bytes) -> bytes:
    """``data`` if it hashes to ``key``; CorruptBlobError otherwise."""
    if hashlib.sha256(data).hexdigest() != key:
        raise CorruptBlobError(key)
    return data


def verify_stream(key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass ``chunks`` on; raise CorruptBlobError after the last if they do not hash to ``key``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != key:
        raise CorruptBlobError(key)


class LocalBlobStore:
    """Files under ``root/ab/<sha256>``, written to a temporary name and renamed into place."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self.name = f"local folder {root}"
        self.fork_safe = True
        self._dirs: set[str] = set()

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    def put(self, data: bytes, *, durable: bool = True) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if key[:2] not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(key[:2])
        elif path.exists():
            return key
        # Unique per writer: threads of one process may store the same bytes at once.
        tmp = path.with_name(f".{key}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                if self.fsync and durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.fsync and durable:
            _fsync_dir(path.parent)  # the rename itself must survive a crash too
        return key

    def put_many(self, values: Sequence[bytes], *, durable: bool = True) -> list[str]:
        return [self.put(value, durable=durable) for value in values]

    def get(self, key: str) -> bytes:
        try:
            return verified(key, self._path(key).read_bytes())
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def stream(self, key: str) -> Iterator[bytes]:
        try:
            fh = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise KeyError(key) from exc
        return verify_stream(key, _read_chunks(fh))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 2:
                for path in sorted(folder.iterdir()):
                    if _KEY.fullmatch(path.name) and path.name.startswith(folder.name):
                        yield path.name


def _read_chunks(fh: IO[bytes]) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_blob_store(spec: str, settings: Settings, db: Database | None = None) -> BlobStore:
    """The store named by ``spec`` ('local', 'database', 's3://BUCKET/PREFIX').

    ``db`` is the database the 'database' store writes to (one of its own,
    with a small pool, when not given). S3 takes its endpoint, region and
    credentials from the ``s3_*`` settings, or from the standard AWS variables.
    """
    if spec == "local":
        return LocalBlobStore(settings.data_dir / "blobs")
    if spec == "database":
        from echodesk.store.blobstores.database import DatabaseBlobStore
        from echodesk.store.db import Database

        if db is not None:
            return DatabaseBlobStore(db)
        own = Database(settings.effective_database_url(), pool_size=2)
        store = DatabaseBlobStore(own)
        weakref.finalize(store, own.dispose)  # its connections close with it
        return store
    if spec.startswith("s3://"):
        from echodesk.store.blobstores.s3 import S3BlobStore

        return S3BlobStore.for_settings(spec, settings)
    raise BlobStoreError(
        f"unknown blob store {spec!r}: expected local, database or s3://BUCKET/PREFIX"
    )
