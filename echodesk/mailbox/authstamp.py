"""Putting Echo's own ``Authentication-Results`` on a message, and removing forgeries.

A receiving host must not let a sender speak in its name (RFC 8601 §5):
every ``Authentication-Results`` header that already carries Echo's own
authserv-id was written by someone else, so it is removed. A trusted host's
header counts only as that host wrote it: it prepends one header per message,
so only the *topmost* header with its id is kept; any lower one under the
same id was written before the message reached that host (by the sender)
and is removed. Where the trusted host cannot have handled the message at
all (it reached Echo's SMTP receiver straight from the sender), every header
with its id is removed.

Only the header block is touched, byte for byte; the body and every other
header stay exactly as received. A message without a header block is left
as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,200}:")
_AUTHSERV = re.compile(rb"^\s*(?:\([^)]*\)\s*)*([^\s;()]+)")
NAME = b"authentication-results"


def header_block(raw: bytes) -> bytes:
    """The bytes up to the first empty line (the whole message if there is none)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i >= 0]
    return raw[: min(ends) + 1] if ends else raw


def _split(raw: bytes) -> tuple[list[bytes], bytes] | None:
    """The header fields (each with its folded lines and line ends) and the rest."""
    if not _HEADER_LINE.match(raw[:201]):
        return None
    lines = header_block(raw).splitlines(keepends=True)
    fields: list[bytes] = []
    consumed = 0
    for line in lines:
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _HEADER_LINE.match(line):
            fields.append(line)
        else:
            break  # not a header line: the body starts here (no blank line was sent)
        consumed += len(line)
    return fields, raw[consumed:]


def authserv_id(field: bytes) -> str:
    """The authserv-id of one ``Authentication-Results`` field ('' if none)."""
    value = field.partition(b":")[2]
    match = _AUTHSERV.match(value.replace(b"\r\n", b" ").replace(b"\n", b" "))
    return match.group(1).decode("ascii", "replace").lower() if match else ""


def _field_name(field: bytes) -> bytes:
    return field.partition(b":")[0].strip().lower()


def clean(raw: bytes, own_id: str, trusted: Iterable[str], trusted_hop: bool) -> bytes:
    """``raw`` without headers that speak for Echo or a trusted host and cannot be theirs.

    ``trusted_hop``: whether the message can have passed a trusted host (false
    for mail the sender handed to Echo's own SMTP receiver directly).
    """
    split = _split(raw)
    if split is None:
        return raw
    fields, rest = split
    own = own_id.lower()
    ids = {t.lower() for t in trusted}
    seen: set[str] = set()
    kept: list[bytes] = []
    for field in fields:
        if _field_name(field) == NAME:
            sid = authserv_id(field)
            if sid == own:
                continue
            if sid in ids:
                if not trusted_hop or sid in seen:
                    continue
                seen.add(sid)
        kept.append(field)
    if len(kept) == len(fields):
        return raw
    return b"".join(kept) + rest


def stamp(raw: bytes, value: str) -> bytes:
    """``raw`` with ``Authentication-Results: <value>`` on top, folded, in its line ends."""
    if _split(raw) is None:
        return raw
    eol = b"\r\n" if raw.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    parts = [p.strip() for p in value.split("; ")]
    text = (";" + eol.decode() + "\t").join(p for p in parts if p)
    header = b"Authentication-Results: " + text.encode("utf-8", "replace") + eol
    return header + raw


__all__ = ["authserv_id", "clean", "header_block", "stamp"]
