"""Reading messages from files: .eml, mbox, Maildir, folders of those, or stdin.

Bytes are read as bytes and handed on untouched (a raw ISO-8859-1 message
must not be "decoded" on the way in). Folders are read in sorted order so an
import is repeatable, a Maildir's messages in the order they were delivered
(the time its file names begin with, numerically: "M987" came before
"M12345" in the same second); the pipeline copes with replies that come before
their parents anyway.
"""

from __future__ import annotations

import mailbox as stdlib_mailbox
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from echodesk.errors import IngestError


@dataclass(frozen=True)
class FileMessage:
    raw: bytes
    ref: str  # where it came from: path, path#index for mbox, or "-"


#: A header field's start: a name of printable ASCII without ':' or spaces, then ':'.
_FIELD = re.compile(rb"^[!-9;-~]+[ \t]*:")
#: Headers that only mail has; a file must carry one to be taken for a message.
_MAIL_FIELDS = frozenset(
    b"from date subject message-id received return-path delivered-to to cc sender "
    b"reply-to in-reply-to references mime-version content-type x-original-to".split()
)
#: YAML block scalars ('body: |-'): a document, not a header block.
_YAML_BLOCK = re.compile(rb"^[!-9;-~]+:[ \t]*[|>][+-]?[ \t]*$")
#: Blank (or whitespace-only) lines before the headers, which readers skip.
_LEADING_BLANK = re.compile(rb"\A(?:[ \t]*\r?\n)+")
#: The start of an OLE compound file: an Outlook .msg saved from the client.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: A YAML document's first line: a directive, or the '---' marker (with a tag or not).
_YAML_START = re.compile(rb"^(?:%YAML|---(?:[ \t]|$))")
#: How far into a file the header block is looked for.
_HEAD_LIMIT = 256 * 1024


def not_mail(raw: bytes) -> str:
    """Why ``raw`` is not an email message ("" when it is one).

    An import must not turn a folder's notes, YAML or PDFs into tickets, so a
    file counts as mail only if it starts with a header block (after an mbox
    'From ' line, and at most one stray line that some exporters put first)
    whose fields, up to the first malformed line, include one only mail has.
    Real mail with a broken header further down still counts.
    """
    head = _LEADING_BLANK.sub(b"", raw[:_HEAD_LIMIT])
    if not head.strip():
        return "empty file"
    if head.startswith(_OLE_MAGIC):
        return "an Outlook item (.msg), not a MIME message"
    block = head[: _block_end(head)]
    if b"\x00" in block:
        return "binary data, not a header block"
    lines = block.splitlines()
    if lines[0].startswith(b"From "):
        lines = lines[1:]
    if lines and _YAML_START.match(lines[0]):
        return "a YAML document, not a header block"
    if lines and not _FIELD.match(lines[0]):
        lines = lines[1:]  # one stray line before the headers
    names = _field_names(lines)
    if names is None:
        return "a YAML document, not a header block"
    if not names:
        shown = (block.splitlines() or [b""])[0][:40].decode("utf-8", "replace")
        return f"no mail header block (it starts {shown!r})"
    if not names & _MAIL_FIELDS:
        return "no From, Date, Subject, Message-ID or Received header"
    return ""


def _field_names(lines: list[bytes]) -> set[bytes] | None:
    """Header names up to the first malformed line; None if a YAML block scalar shows."""
    names: set[bytes] = set()
    for line in lines:
        if line[:1] in (b" ", b"\t") and names:
            continue  # a folded header line
        if _YAML_BLOCK.match(line):
            return None
        if not _FIELD.match(line):
            break
        names.add(line.split(b":", 1)[0].strip().lower())
    return names


def _block_end(head: bytes) -> int:
    """Where the header block ends: the first blank line (or the end of ``head``)."""
    found = re.search(rb"\r?\n\r?\n|\r\r", head)
    return found.start() if found else len(head)


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


#: A Maildir file name's delivery time: seconds, then (usually) ``M`` and microseconds.
_DELIVERED = re.compile(r"(\d{1,12})(?:\.M(\d{1,9}))?")


def _delivery_order(path: Path) -> tuple[int, int, int, str]:
    """Sort key of a Maildir file: when it was delivered, names not in that form last."""
    found = _DELIVERED.match(path.name)
    if found is None:
        return (1, 0, 0, path.name)
    return (0, int(found[1]), int(found[2] or 0), path.name)


def _iter_folder(path: Path) -> Iterator[FileMessage]:
    if _is_maildir(path):
        for sub in ("new", "cur"):
            for item in sorted((path / sub).iterdir(), key=_delivery_order):
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
        return [
            p
            for sub in ("new", "cur")
            for p in sorted((path / sub).iterdir(), key=_delivery_order)
            if p.is_file()
        ]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts)
    )
