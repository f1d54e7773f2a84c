"""Reading messages from files: .eml, mbox, Maildir, folders of those, or stdin.

Bytes are read as bytes and handed on untouched (a raw ISO-8859-1 message
must not be "decoded" on the way in). Folders are read in sorted order so an
import is repeatable; the pipeline copes with replies that come before their
parents anyway.
"""

from __future__ import annotations

import mailbox as stdlib_mailbox
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from echodesk.errors import IngestError


@dataclass(frozen=True)
class FileMessage:
    raw: bytes
    ref: str  # where it came from: path, path#index for mbox, or "-"


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _looks_like_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def iter_messages(target: str) -> Iterator[FileMessage]:
    """Every message under ``target`` (a path, or '-' for one message on stdin)."""
    if target == "-":
        yield FileMessage(sys.stdin.buffer.read(), "-")
        return
    path = Path(target)
    if not path.exists():
        raise IngestError(f"{target}: no such file or folder")
    if path.is_dir():
        yield from _iter_folder(path)
    elif _looks_like_mbox(path):
        yield from _iter_mbox(path)
    else:
        yield FileMessage(path.read_bytes(), str(path))


def _iter_folder(path: Path) -> Iterator[FileMessage]:
    if _is_maildir(path):
        for sub in ("new", "cur"):
            for item in sorted((path / sub).iterdir()):
                if item.is_file() and not item.name.startswith("."):
                    yield FileMessage(item.read_bytes(), str(item))
        return
    for item in sorted(path.rglob("*")):
        if not item.is_file() or any(p.startswith(".") for p in item.relative_to(path).parts):
            continue
        if _looks_like_mbox(item):
            yield from _iter_mbox(item)
        else:
            yield FileMessage(item.read_bytes(), str(item))


def _iter_mbox(path: Path) -> Iterator[FileMessage]:
    box = stdlib_mailbox.mbox(str(path), create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            yield FileMessage(box.get_bytes(key), f"{path}#{index}")
    finally:
        box.close()


def count_messages(targets: list[str]) -> int | None:
    """How many messages the targets hold (for a progress bar); None for stdin."""
    if "-" in targets:
        return None
    return sum(1 for target in targets for _ in _headers_only(target))


def _headers_only(target: str) -> Iterator[None]:
    path = Path(target)
    if not path.exists():
        raise IngestError(f"{target}: no such file or folder")
    files = [path] if path.is_file() else _listing(path)
    for item in files:
        if _looks_like_mbox(item):
            box = stdlib_mailbox.mbox(str(item), create=False)
            try:
                yield from (None for _ in box.iterkeys())
            finally:
                box.close()
        else:
            yield None


def _listing(path: Path) -> list[Path]:
    if _is_maildir(path):
        return sorted(p for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file())
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)
    )
