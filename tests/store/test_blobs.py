from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from echodesk.store.blobs import LocalBlobStore


def test_content_addressed_files_are_stored_once(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put(b"attachment bytes")
    assert key == hashlib.sha256(b"attachment bytes").hexdigest()
    assert store.put(b"attachment bytes") == key
    assert store.get(key) == b"attachment bytes"
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(KeyError):
        store.get(key)


def test_keys_cannot_escape_the_folder(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(KeyError):
        store.get("../../etc/passwd")
