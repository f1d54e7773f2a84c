"""Content-addressed storage for bytes: attachments and large raw messages.

Keys are the sha256 of the content, so storing the same file twice costs
nothing and a key never points at changed bytes. The local folder is the
embedded default; other stores (the database, S3) fit the same protocol.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def put(self, data: bytes, *, durable: bool = True) -> str:
        """Store ``data`` and return its key (sha256 hex).

        ``durable=False`` skips the flush to disk: for bytes that can be made
        again from a durable copy (attachments, re-extractable from the raw
        message kept in the spool).
        """
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (KeyError if absent)."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error if absent)."""
        ...

    def exists(self, key: str) -> bool: ...


class LocalBlobStore:
    """Files under ``root/ab/cd/<sha256>``, written atomically and fsynced."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise KeyError(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes, *, durable: bool = True) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if self.fsync and durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()
