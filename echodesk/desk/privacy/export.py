"""``echodesk export``: everything the desk holds about a person, as one zip file.

A data-subject access request is answered with a machine-readable archive:
``echo-export.json`` (the customer, each of their tickets with every
message, and the messages they sent on other people's tickets), the files
attached to those messages under ``files/`` (named by ticket and message,
checked against their sha256), and a README that explains the structure.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.errors import NotFoundError
from echodesk.store import holdings, readmodels
from echodesk.store.db import Database
from echodesk.store.readmodels import iso
from echodesk.store.tickets import numbers_of as ticket_numbers
from echodesk.store.types import utcnow

FORMAT = "echodesk-export/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

README = """\
Echo help desk: export of the data held about {address}
Made {made} (format {format}).

echo-export.json
  format         "{format}"
  exported_at    when this file was made (UTC, ISO 8601)
  customer       the address, name, first and last time seen, bounce state
  tickets        each ticket opened by this address: number, subject, status,
                 priority, tags, created/updated times, and "messages", oldest
                 first. Each message has its direction ("inbound" from the
                 customer, "outbound" from the help desk, "internal" for a note
                 the help desk wrote about the ticket{notes}), sender, recipients,
                 subject, date, the full text and the text without quoted
                 history, and its attachments.
  other_messages messages this address sent on tickets opened by someone else
                 (when it was in copy), in the same form.

Each attachment lists its file name, content type, size, sha256 and "path":
the file's place in this zip (files/<ticket>/<message>/<file name>). Files
erased earlier are listed with "erased": true and no path.
"""


@dataclass(frozen=True)
class Exported:
    tickets: int
    messages: int
    files: int


def export_person(
    db: Database,
    ctx: DeskContext,
    address: str,
    out: Path,
    *,
    internal_notes: bool = True,
    now: datetime | None = None,
) -> Exported:
    """Write the zip for ``address`` to ``out``; NotFoundError when nothing is held."""
    made = now or utcnow()
    with db.reading() as session:
        found = _gather(session, ctx.settings, address, internal_notes=internal_notes)
    found.document["exported_at"] = iso(made)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.tmp")
    notes = "" if internal_notes else "; left out of this export"
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            README.format(address=address, made=iso(made), format=FORMAT, notes=notes),
        )
        archive.writestr(
            "echo-export.json", json.dumps(found.document, ensure_ascii=False, indent=2) + "\n"
        )
        for path, key, sha256 in found.files:
            data = ctx.blobs.get(key)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise NotFoundError(f"the stored file for {path} does not match its checksum")
            archive.writestr(path, data)
    temp.replace(out)
    return Exported(len(found.document["tickets"]), found.messages, len(found.files))


@dataclass
class _Found:
    """The export's document, the files to put beside it, and how many messages it holds."""

    document: dict[str, Any]
    files: list[tuple[str, str, str]] = field(default_factory=list)  # (path, key, sha256)
    messages: int = 0


def _gather(session: Any, settings: Settings, address: str, *, internal_notes: bool) -> _Found:
    """Read everything held about the address into the export's document."""
    customer = holdings.customer(session, address)
    if customer is None:
        raise NotFoundError(f"no customer with the address {address}")
    tickets = holdings.tickets_of(session, customer.id)
    details = [readmodels.ticket_detail(session, settings, t) for t in tickets]
    for ticket, detail in zip(tickets, details, strict=True):
        pks = holdings.message_ids(session, ticket.id)
        for message, pk in zip(detail["messages"], pks, strict=True):
            message["pk"] = pk
    own = {t.id for t in tickets}
    others = [m for m in holdings.messages_from(session, address) if m.ticket_id not in own]
    other_rows = readmodels.message_details(session, others)
    for message, source in zip(other_rows, others, strict=True):
        message["pk"] = source.id
    every = [m["pk"] for d in details for m in d["messages"]] + [m.id for m in others]
    keys = holdings.storage_keys(session, every)
    found = _Found({"format": FORMAT, "exported_at": "", "customer": _customer(customer)})
    found.document.update(tickets=[], other_messages=[])
    for detail in details:
        label = str(detail["number"])
        kept = [m for m in detail["messages"] if internal_notes or m["direction"] != "internal"]
        for message in kept:
            found.files += _place_files(label, message, keys)
            message.pop("pk", None)
        found.messages += len(kept)
        found.document["tickets"].append({**detail, "messages": kept})
    numbers = ticket_numbers(session, {m.ticket_id for m in others})
    for message, source in zip(other_rows, others, strict=True):
        label = settings.ticket_label(numbers[source.ticket_id])
        found.files += _place_files(label, message, keys)
        message.pop("pk", None)
        found.document["other_messages"].append({"ticket": label, **message})
        found.messages += 1
    return found


def _customer(customer: Any) -> dict[str, Any]:
    return {
        "email": customer.email,
        "name": customer.display_name,
        "first_seen_at": iso(customer.first_seen_at),
        "last_seen_at": iso(customer.last_seen_at),
        "bounced_at": iso(customer.bounced_at),
        "bounce_detail": customer.bounce_detail,
    }


def _place_files(
    label: str, message: dict[str, Any], keys: dict[int, list[str]]
) -> list[tuple[str, str, str]]:
    placed = []
    for n, (attachment, key) in enumerate(
        zip(message["attachments"], keys.get(message["pk"], []), strict=False), start=1
    ):
        if not key or attachment.get("erased"):
            attachment["erased"] = True
            continue
        name = _UNSAFE.sub("_", attachment["filename"] or "file").strip("._") or "file"
        path = f"files/{label}/{message['pk']}/{n}-{name[:100]}"
        attachment["path"] = path
        placed.append((path, key, attachment["sha256"]))
    return placed
