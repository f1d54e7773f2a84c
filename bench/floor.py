"""The floor: the least a mail importer can do, to measure ``echodesk ingest`` against.

Reads every message of a Maildir (or a folder of files), parses each with the
standard library (``email.message_from_bytes`` with ``email.policy.default``,
the modern API), takes its Message-ID, sender, recipients, subject, date and
text body, and writes one SQLite row per message, all in one transaction. No
threading, no search index, no attachments kept, no spool: what any importer
must at least pay for reading mail into a database. ``bench/ingest.py
--vs-floor`` runs it on the same Maildir as Echo and compares whole-process
times, interpreter start included on both sides.

Run::

    .venv/bin/python bench/floor.py MAILDIR DATABASE   # prints {"messages": N, "seconds": S}
"""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, message_id TEXT, "
    "sender TEXT, recipients TEXT, subject TEXT, date TEXT, body TEXT)"
)


def files(root: Path) -> Iterator[Path]:
    """The message files: a Maildir's cur/ and new/, else every file below ``root``."""
    folders = [root / "cur", root / "new"] if (root / "new").is_dir() else [root]
    for folder in folders:
        yield from sorted(p for p in folder.rglob("*") if p.is_file())


def body_text(msg: EmailMessage) -> str:
    """The text a reader sees: the plain part, else the HTML one, as Python decodes it."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset, a broken encoding
        return part.get_payload(decode=True).decode("utf-8", "replace")  # type: ignore[union-attr]


def row(raw: bytes) -> tuple[str, str, str, str, str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return (
        str(msg.get("Message-ID", "")),
        str(msg.get("From", "")),
        str(msg.get("To", "")),
        str(msg.get("Subject", "")),
        str(msg.get("Date", "")),
        body_text(msg),
    )


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    folder, database = Path(argv[0]), Path(argv[1])
    conn = sqlite3.connect(database)
    conn.execute(SCHEMA)
    count = 0
    with conn:  # one transaction
        for path in files(folder):
            conn.execute(
                "INSERT INTO messages (message_id, sender, recipients, subject, date, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row(path.read_bytes()),
            )
            count += 1
    conn.close()
    print(json.dumps({"messages": count, "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
