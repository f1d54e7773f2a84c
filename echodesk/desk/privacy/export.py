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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from echodesk.desk.context import DeskContext
from echodesk.errors import NotFoundError
from echodesk.store import reports
from echodesk.store.db import Database
from echodesk.store.models import Attachment, Customer, Message, Ticket
from echodesk.store.reports import iso
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
    wanted = address.strip().lower()
    made = now or utcnow()
    settings = ctx.settings
    with db.reading() as session:
        customer = session.scalars(
            select(Customer).where(func.lower(Customer.email) == wanted)
        ).first()
        if customer is None:
            raise NotFoundError(f"no customer with the address {address}")
        tickets = list(
            session.scalars(
                select(Ticket).where(Ticket.customer_id == customer.id).order_by(Ticket.number)
            )
        )
        own = {t.id for t in tickets}
        details = [reports.ticket_detail(session, settings, t) for t in tickets]
        for ticket, detail in zip(tickets, details, strict=True):
            ids = session.scalars(
                select(Message.id).where(Message.ticket_id == ticket.id).order_by(Message.id)
            )
            for message, pk in zip(detail["messages"], ids, strict=True):
                message["pk"] = pk
        others = list(
            session.scalars(
                select(Message).where(func.lower(Message.from_email) == wanted).order_by(Message.id)
            )
        )
        others = [m for m in others if m.ticket_id not in own]
        other_ids = [m.id for m in others]
        other_tickets = {
            t.id: t.number
            for t in session.scalars(
                select(Ticket).where(Ticket.id.in_({m.ticket_id for m in others}))
            )
        }
        other_rows = reports.message_details(session, others)
        for message, source in zip(other_rows, others, strict=True):
            message["pk"] = source.id
        keys = _storage_keys(session, [m["pk"] for d in details for m in d["messages"]] + other_ids)
        document: dict[str, Any] = {
            "format": FORMAT,
            "exported_at": iso(made),
            "customer": {
                "email": customer.email,
                "name": customer.display_name,
                "first_seen_at": iso(customer.first_seen_at),
                "last_seen_at": iso(customer.last_seen_at),
                "bounced_at": iso(customer.bounced_at),
                "bounce_detail": customer.bounce_detail,
            },
            "tickets": [],
            "other_messages": [],
        }
        files: list[tuple[str, str, str]] = []  # (path in zip, storage key, sha256)
        message_count = 0
        for detail in details:
            label = str(detail["number"])
            kept = [m for m in detail["messages"] if internal_notes or m["direction"] != "internal"]
            for message in kept:
                files += _place_files(label, message, keys)
                message.pop("pk", None)
            message_count += len(kept)
            document["tickets"].append({**detail, "messages": kept})
        for message, source in zip(other_rows, others, strict=True):
            label = settings.ticket_label(other_tickets[source.ticket_id])
            files += _place_files(label, message, keys)
            message.pop("pk", None)
            document["other_messages"].append({"ticket": label, **message})
            message_count += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.tmp")
    notes = "" if internal_notes else "; left out of this export"
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "README.txt",
            README.format(address=address, made=iso(made), format=FORMAT, notes=notes),
        )
        archive.writestr(
            "echo-export.json", json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        )
        for path, key, sha256 in files:
            data = ctx.blobs.get(key)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise NotFoundError(f"the stored file for {path} does not match its checksum")
            archive.writestr(path, data)
    temp.replace(out)
    return Exported(tickets=len(details), messages=message_count, files=len(files))


def _storage_keys(session: Any, message_ids: list[int]) -> dict[int, list[str]]:
    """Each message's attachments' storage keys, in the order reports lists them."""
    out: dict[int, list[str]] = {}
    for start in range(0, len(message_ids), 500):
        rows = session.execute(
            select(Attachment.message_pk, Attachment.storage_key)
            .where(Attachment.message_pk.in_(message_ids[start : start + 500]))
            .order_by(Attachment.id)
        )
        for pk, key in rows:
            out.setdefault(pk, []).append(key or "")
    return out


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
