"""Faults for the blob stores: bytes changed behind Echo's back, and a store that is down.

``tamper`` writes other bytes under a key in whichever real store holds it
(the file, the first database chunk, the S3 object). ``Unreachable`` wraps a
real store and fails as an unreachable one does (``BlobStoreError``) while
``down`` is set: it stands in for the outage only, everything else is real.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import update

from echodesk.store.blobs import BlobStore, BlobStoreError, LocalBlobStore
from echodesk.store.blobstores.database import DatabaseBlobStore
from echodesk.store.blobstores.s3 import S3BlobStore
from echodesk.store.models import BlobChunk


def tamper(store: BlobStore, key: str, data: bytes = b"tampered bytes") -> None:
    """Replace the stored bytes of ``key`` (its first chunk) with ``data``."""
    if isinstance(store, LocalBlobStore):
        (store.root / key[:2] / key).write_bytes(data)
    elif isinstance(store, DatabaseBlobStore):
        with store.db.writing() as conn:
            conn.execute(
                update(BlobChunk).where(BlobChunk.key == key, BlobChunk.seq == 0).values(data=data)
            )
    elif isinstance(store, S3BlobStore):
        store.client.put_object(
            Bucket=store.bucket, Key=f"{store.prefix}{key[:2]}/{key}", Body=data
        )
    else:  # pragma: no cover - a store the tests do not know
        raise TypeError(store)


class Unreachable:
    """``real``, except that every call fails as an unreachable store's does while ``down``."""

    def __init__(self, real: BlobStore) -> None:
        self.real = real
        self.name = real.name
        self.fork_safe = False  # its switch is flipped in the test's own process
        self.down = True
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise BlobStoreError(f"{self.name} cannot be used: connection refused")

    def put(self, data: bytes, *, durable: bool = True) -> str:
        self._check()
        return self.real.put(data, durable=durable)

    def put_many(self, values: Sequence[bytes], *, durable: bool = True) -> list[str]:
        self._check()
        return self.real.put_many(values, durable=durable)

    def get(self, key: str) -> bytes:
        self._check()
        return self.real.get(key)

    def stream(self, key: str) -> Iterator[bytes]:
        self._check()
        return self.real.stream(key)

    def delete(self, key: str) -> None:
        self._check()
        self.real.delete(key)

    def exists(self, key: str) -> bool:
        self._check()
        return self.real.exists(key)

    def keys(self) -> Iterator[str]:
        self._check()
        return self.real.keys()
