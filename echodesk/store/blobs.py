"""Content-addressed storage for bytes: attachments and large raw messages.

Keys are the sha256 of the content, so storing the same file twice costs
nothing and a key never points at changed bytes. The local folder is the
embedded default; other stores (the database, S3) fit the same protocol.
"""

from __future__ import annotations

import hashlib
import os
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
    """Files under ``root/ab/<sha256>``, written to a temporary name and renamed into place."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._dirs: set[str] = set()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise KeyError(key)
        return self.root / key[:2] / key

    def put(self, data: bytes, *, durable: bool = True) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if key[:2] not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(key[:2])
        elif path.exists():
            return key
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
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

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
