"""The parser's and the trimmer's output on every corpus message, pinned by digest.

Parsing and trimming are tuned for speed; a faster path must give exactly the
same result on real mail. For every message of the shared corpus
(``../shared/corpus`` or ``ECHODESK_CORPUS``; see its ``README.md``), every
field of the parsed message that the desk stores or reads (ids, subject,
addresses, dates, text, HTML, attachments with their sizes and hashes, kept
headers, defects, content hash) and the reply as the intake and an agent's
mail trim it are written as canonical JSON and hashed; the hashes live in
``corpus_digests.json`` (hashes only: no corpus text enters the repository).
The reply-trimming corpora are bodies without headers, so they are trimmed as
they are, too.

When a change is meant to alter the output, rewrite the digests with
``.venv/bin/python -m tests.mailbox.test_parse_digest --write`` and say in
the change which messages changed and why.
"""

from __future__ import annotations

import hashlib
import json
import mailbox
import random
import re
import sys
from collections.abc import Iterator
from email.errors import HeaderParseError
from email.policy import Compat32
from pathlib import Path
from typing import Any

import pytest

from echodesk.mailbox import parse
from echodesk.mailbox.message import Address, ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.mailbox.trim import Trimmed, trim_reply
from tests.conftest import corpus_dir
from tests.support.corpuslayout import BODY_GLOBS, MBOXES, MESSAGE_GLOBS, mail_files

DIGESTS = Path(__file__).with_name("corpus_digests.json")

FOLDERS = sorted({*MESSAGE_GLOBS, *BODY_GLOBS})


def samples(root: Path, name: str) -> Iterator[tuple[str, bytes, bool]]:
    """(corpus-relative label, raw bytes, is a bare reply body) for one folder."""
    folder = root / name
    mboxes = {folder / rel for rel in MBOXES.get(name, [])}
    bodies = set(mail_files(folder, BODY_GLOBS.get(name, [])))
    paths = {p: None for p in mail_files(folder, MESSAGE_GLOBS.get(name, [])) if p not in mboxes}
    paths.update(dict.fromkeys(bodies))
    for path in sorted(paths):
        yield f"{name}/{path.relative_to(folder)}", path.read_bytes(), path in bodies
    for path in sorted(mboxes):
        box = mailbox.mbox(path, create=False)
        try:
            for index, key in enumerate(box.keys()):
                yield f"{name}/{path.relative_to(folder)}#{index}", box.get_bytes(key), False
        finally:
            box.close()


def _address(address: Address | None) -> list[str] | None:
    return None if address is None else [address.name, address.email]


def _trimmed(result: Trimmed) -> list[str]:
    return [result.text, result.removed, result.signature]


def canonical(message: ParsedMessage) -> dict[str, Any]:
    """Every field of a parsed message as JSON-ready data, header order kept."""
    return {
        "message_id": message.message_id,
        "message_id_generated": message.message_id_generated,
        "in_reply_to": list(message.in_reply_to),
        "references": list(message.references),
        "subject": message.subject,
        "from": _address(message.from_),
        "to": [_address(a) for a in message.to],
        "cc": [_address(a) for a in message.cc],
        "reply_to": [_address(a) for a in message.reply_to],
        "date": message.date.isoformat() if message.date else None,
        "first_received": message.first_received.isoformat() if message.first_received else None,
        "text": message.text,
        "html": message.html,
        "attachments": [
            [p.filename, p.content_type, p.size, p.sha256, p.content_id, p.inline]
            for p in message.attachments
        ],
        "headers": [[name, list(values)] for name, values in message.headers.items()],
        "content_hash": message.content_hash,
        "size": message.size,
        "defects": list(message.defects),
        "thread_ids": list(message.thread_ids),
    }


def digest(raw: bytes, body: bool) -> str:
    """sha256 of the canonical JSON of the parse and of the trims the desk makes of it."""
    message = parse_message(raw)
    sender = f"{message.from_.name} {message.from_.email}" if message.from_ is not None else ""
    record: dict[str, Any] = {
        "parse": canonical(message),
        "trim": _trimmed(trim_reply(message.text, sender)),
        "trim_commands": trim_reply(message.text, keep_if_empty=False).text,
    }
    if body:
        text = raw.decode("utf-8", "replace")
        record["trim_body"] = _trimmed(trim_reply(text))
        record["trim_body_signed"] = _trimmed(trim_reply(text, "Jane Doe <jane@example.com>"))
    data = json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("ascii")).hexdigest()


def folder_digests(root: Path, name: str) -> dict[str, str]:
    return {label: digest(raw, body) for label, raw, body in samples(root, name)}


def stored() -> dict[str, str]:
    data = json.loads(DIGESTS.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {str(k): str(v) for k, v in data.items()}


@pytest.mark.parametrize("name", FOLDERS)
def test_parser_output_is_unchanged_on_the_corpus(name: str) -> None:
    root = corpus_dir()
    if not (root / name).is_dir():
        pytest.fail(f"corpus folder {root / name} is missing")
    expected = {k: v for k, v in stored().items() if k.split("/", 1)[0] == name}
    actual = folder_digests(root, name)
    assert actual, f"{name}: no messages found"
    changed = sorted(k for k in actual.keys() & expected.keys() if actual[k] != expected[k])
    new = sorted(actual.keys() - expected.keys())
    gone = sorted(expected.keys() - actual.keys())
    assert not (changed or new or gone), (
        f"{name}: parse/trim output differs on {len(changed)} of {len(actual)}: {changed}; "
        f"not in {DIGESTS.name}: {new}; in it but not found: {gone}"
    )


# --- the shortcuts against the stdlib code they stand in for ------------------------------

_FOLD_ALPHABET = ["a", "b:", " ", "  ", "\t", "\n", "\r\n", "\r", "\x0b", "\x1c", "\x1f", "X:"]


def _random_values(count: int) -> Iterator[str]:
    rng = random.Random(20240501)
    for _ in range(count):
        yield "".join(rng.choice(_FOLD_ALPHABET) for _ in range(rng.randint(1, 12)))


def _folded(policy: Compat32, name: str, value: str) -> bytes | str:
    """What a policy writes for a header, or the error it raises."""
    try:
        return policy.fold_binary(name, value)
    except HeaderParseError as exc:
        return f"HeaderParseError: {exc}"


def test_unwrapped_headers_are_written_as_compat32_writes_them() -> None:
    """The quick way of writing a header equals ``Header.encode`` (no wrapping)."""
    fast = parse._AS_WRITTEN["\r\n"]
    stock = Compat32(max_line_length=None, linesep="\r\n")
    values = [*_random_values(20_000), "a ", "a  ", " ", "a \n b ", "x\n\ny", "x\n  \n y"]
    differ = [v for v in values if _folded(fast, "Subject", v) != _folded(stock, "Subject", v)]
    assert not differ[:20]


_BOUNDARY_ALPHABET = ["--b", "--", "-", " ", "\t", "\n", "\r\n", "\r", "x", "b"]


def test_boundary_lines_match_as_the_stdlib_pattern_matches() -> None:
    """The boundary matcher gives the stdlib's regex match (and its groups) on any line."""
    rng = random.Random(7)
    for separator in ("--b", "--a.b+c(d)?", "--=_Part 1 =="):
        pattern = (
            "(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)"
            r"(?P<linesep>\r\n|\r|\n)?$"
        )
        matcher = parse._ReWithBoundaries.compile(pattern)
        assert isinstance(matcher, parse._Boundary)
        stock = re.compile(pattern)
        for _ in range(20_000):
            tail = "".join(rng.choice(_BOUNDARY_ALPHABET) for _ in range(rng.randint(0, 6)))
            line = separator + tail if rng.random() < 0.8 else tail
            ours, theirs = matcher.match(line), stock.match(line)
            assert (ours is None) == (theirs is None), (separator, line)
            if ours is not None and theirs is not None:
                groups = [ours.group(g) for g in ("sep", "end", "ws", "linesep")]
                assert groups == [theirs.group(g) for g in ("sep", "end", "ws", "linesep")]


def write_digests() -> int:
    """Recompute every digest and write the file (the corpus must be present)."""
    root = corpus_dir()
    digests: dict[str, str] = {}
    for name in FOLDERS:
        digests.update(folder_digests(root, name))
    text = json.dumps(dict(sorted(digests.items())), indent=0, ensure_ascii=True)
    DIGESTS.write_text(text + "\n", encoding="utf-8")
    print(f"{len(digests)} digests written to {DIGESTS}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.mailbox.test_parse_digest --write")
    sys.exit(write_digests())
