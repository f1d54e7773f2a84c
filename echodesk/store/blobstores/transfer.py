"""Every key the database names, moved to another store or checked where it is.

The keys are those of the attachments not erased, of received mail kept in
the blob store (``inbound_spool.raw_key``) and of outgoing mail
(``outbox.raw_key``), read in pages by row id. :func:`migrate` copies each
key the target lacks (so a second run only finishes what the first left, and
a finished one copies nothing); :func:`check` reads each key back and hashes
it. A key whose bytes are missing or changed is reported with every row
that names it; a store that cannot be reached stops either at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select

from echodesk.config import Settings
from echodesk.store.blobs import BlobStore, CorruptBlobError
from echodesk.store.db import Database
from echodesk.store.models import Attachment, InboundSpool, Message, Outbox, Ticket

_PAGE = 500
Step = Callable[[], None]


@dataclass(frozen=True)
class Named:
    """One row that names a key, said so that an operator can find it."""

    key: str
    what: str
    ticket: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "what": self.what, "ticket": self.ticket}


@dataclass
class Report:
    """What a migrate or check found, key by key (a key named twice counts once)."""

    keys: int = 0
    copied: int = 0
    present: int = 0
    size: int = 0
    missing: list[Named] = field(default_factory=list)
    corrupted: list[Named] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "keys": self.keys,
            "copied": self.copied,
            "present": self.present,
            "bytes": self.size,
            "missing": [n.as_dict() for n in self.missing],
            "corrupted": [n.as_dict() for n in self.corrupted],
        }


def count_named(db: Database) -> int:
    """How many rows name a key (the length of a progress bar)."""
    with db.reading() as session:
        return sum(
            int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
            for q in _queries(0)
        )


def named_keys(db: Database, settings: Settings) -> Iterator[Named]:
    """Every row that names a key, source by source, in pages by row id."""
    for index in range(3):
        after = 0
        while True:
            with db.reading() as session:
                rows = list(session.execute(_queries(after)[index].limit(_PAGE)))
            for row in rows:
                yield _describe(index, row, settings)
            if len(rows) < _PAGE:
                break
            after = rows[-1][0]


def _queries(after: int) -> list[Select[Any, Any, Any, Any]]:
    attachments = (
        select(Attachment.id, Attachment.storage_key, Attachment.filename, Ticket.number)
        .join(Message, Message.id == Attachment.message_pk)
        .outerjoin(Ticket, Ticket.id == Message.ticket_id)
        .where(Attachment.id > after, Attachment.storage_key != "", Attachment.erased_at.is_(None))
        .order_by(Attachment.id)
    )
    spooled = (
        select(InboundSpool.id, InboundSpool.raw_key, InboundSpool.state, Ticket.number)
        .outerjoin(Ticket, Ticket.id == InboundSpool.ticket_id)
        .where(InboundSpool.id > after, InboundSpool.raw_key.is_not(None))
        .order_by(InboundSpool.id)
    )
    queued = (
        select(Outbox.id, Outbox.raw_key, Outbox.state, Ticket.number)
        .outerjoin(Ticket, Ticket.id == Outbox.ticket_id)
        .where(Outbox.id > after, Outbox.raw_key.is_not(None))
        .order_by(Outbox.id)
    )
    return [attachments, spooled, queued]


def _describe(index: int, row: Any, settings: Settings) -> Named:
    ident, key, detail, number = row
    ticket = settings.ticket_label(number) if number is not None else ""
    what = (
        f"attachment {ident} ({detail})",
        f"received mail, spool row {ident} ({detail})",
        f"outgoing mail, outbox {ident} ({detail})",
    )[index]
    return Named(str(key), what, ticket)


def _walk(
    db: Database, settings: Settings, step: Step, visit: Callable[[str, Report], str]
) -> Report:
    """Every named key once (``visit`` gives its state), every naming row noted."""
    report = Report()
    known: dict[str, str] = {}
    for named in named_keys(db, settings):
        step()
        state = known.get(named.key)
        if state is None:
            state = known[named.key] = visit(named.key, report)
            report.keys += 1
        _note(report, named, state)
    return report


def migrate(
    db: Database, settings: Settings, source: BlobStore, target: BlobStore, step: Step
) -> Report:
    """Copy every named key that ``target`` lacks from ``source``, checked on the way."""
    return _walk(db, settings, step, lambda key, report: _copy(key, source, target, report))


def _copy(key: str, source: BlobStore, target: BlobStore, report: Report) -> str:
    if target.exists(key):
        report.present += 1
        return "ok"
    try:
        data = source.get(key)
    except CorruptBlobError:
        return "corrupted"
    except KeyError:
        return "missing"
    stored = target.put(data)
    assert stored == key, "a content-addressed store gave another key"
    report.copied += 1
    report.size += len(data)
    return "ok"


def check(db: Database, settings: Settings, store: BlobStore, step: Step) -> Report:
    """Read back every named key from ``store`` and compare its sha256."""
    return _walk(db, settings, step, lambda key, report: _read(key, store, report))


def _read(key: str, store: BlobStore, report: Report) -> str:
    size = 0
    try:
        for chunk in store.stream(key):
            size += len(chunk)
    except CorruptBlobError:
        return "corrupted"
    except KeyError:
        return "missing"
    report.present += 1
    report.size += size
    return "ok"


def _note(report: Report, named: Named, state: str) -> None:
    if state == "missing":
        report.missing.append(named)
    elif state == "corrupted":
        report.corrupted.append(named)
