"""Erasing a person from the archive's tables, for a data-subject request.

Everything the archive holds about one address goes, while what happened
stays: the customer row is kept as ``[deleted]`` (so tickets keep their
customer, numbers, statuses and timeline), and the texts, names, addresses
and raw mail are replaced or dropped:

* every message of the customer's tickets (their mail, the replies that
  quote it, the notes about it) and every other message they sent: subject,
  bodies and trimmed text become ``[erased per DSR YYYY-MM-DD]``; their name
  and address leave the sender and recipient fields of any message;
* their tickets' subjects; their attachments (rows marked erased, names
  dropped; the files are deleted by the caller once no other row needs them);
* the raw bytes of their received mail in the spool and of every outgoing
  message about them in the outbox (replies, notifications that quote them);
  mail still queued for them is never sent;
* the audit trail's payloads: their address, name and the texts are
  scrubbed, the actions, times and actors (but their own address) kept;
* the search index entries of every message touched.

The caller owns the transaction and deletes files after the commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from echodesk.store import searchindex
from echodesk.store.blobs import BlobStore
from echodesk.store.lookups import chunks
from echodesk.store.models import (
    Attachment,
    AuditLog,
    Customer,
    InboundSpool,
    Message,
    Outbox,
    Ticket,
    TicketParticipant,
)

DELETED = "[deleted]"
KEPT_KEYS = frozenset({"status", "priority", "from", "to", "into", "rule", "reason", "command"})


def marker(day: datetime) -> str:
    """The text that replaces an erased body or subject."""
    return f"[erased per DSR {day.date().isoformat()}]"


@dataclass
class Erased:
    """What an erasure changed (for the report and the audit row)."""

    customer_id: int | None = None
    tickets: list[int] = field(default_factory=list)  # ticket numbers
    messages: int = 0
    attachments: int = 0
    spool_rows: int = 0
    outbox_rows: int = 0
    audit_rows: int = 0
    blob_keys: set[str] = field(default_factory=set)  # files no row needs any more
    outbox_message_ids: set[str] = field(default_factory=set)  # to find written .eml files

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "tickets": self.tickets,
            "messages": self.messages,
            "attachments": self.attachments,
            "spool_rows": self.spool_rows,
            "outbox_rows": self.outbox_rows,
            "audit_rows": self.audit_rows,
            "files": len(self.blob_keys),
        }


class _Scrubber:
    """Replaces a person's address and name inside free text and JSON values."""

    def __init__(self, address: str, name: str) -> None:
        needles = [address] + ([name] if len(name.strip()) >= 3 else [])
        self.pattern = re.compile("|".join(re.escape(n) for n in needles), re.IGNORECASE)
        self.raw_pattern = re.compile(
            b"|".join(re.escape(n.encode()) for n in needles), re.IGNORECASE
        )

    def text(self, value: str) -> str:
        return self.pattern.sub(DELETED, value or "")

    def raw(self, value: bytes) -> bytes:
        """Their address and name out of someone else's raw mail (a copy list, say)."""
        return self.raw_pattern.sub(DELETED.encode(), value)

    def found_in(self, value: str) -> bool:
        return bool(self.pattern.search(value or ""))

    def addresses(self, values: list[Any]) -> list[Any]:
        return [DELETED if self.found_in(str(v)) else v for v in values or []]

    def payload(self, value: Any, erase_texts: bool, erased: str) -> Any:
        """Scrub a JSON value; on the person's tickets texts other than states go too."""
        if isinstance(value, dict):
            return {
                k: (
                    self.payload(v, erase_texts and k not in KEPT_KEYS, erased)
                    if not (isinstance(v, str) and k in KEPT_KEYS)
                    else self.text(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.payload(v, erase_texts, erased) for v in value]
        if isinstance(value, str):
            if erase_texts and len(value) > 0 and not value.isdigit():
                return erased
            return self.text(value)
        return value


def erase_person(
    session: Session, email: str, *, now: datetime, blobs: BlobStore | None = None
) -> Erased:
    """Erase one address (see the module docstring); idempotent."""
    address = email.strip().lower()
    done = Erased()
    customer = session.scalars(
        select(Customer).where(func.lower(Customer.email) == address)
    ).first()
    scrub = _Scrubber(address, customer.display_name if customer else "")
    erased = marker(now)
    ticket_ids: list[int] = []
    if customer is not None:
        done.customer_id = customer.id
        tickets = list(session.scalars(select(Ticket).where(Ticket.customer_id == customer.id)))
        ticket_ids = [t.id for t in tickets]
        done.tickets = sorted(t.number for t in tickets)
        for ticket in tickets:
            ticket.subject = erased
    message_ids = _erase_messages(session, address, customer, ticket_ids, scrub, erased, done)
    touched = set(message_ids)
    others = _scrub_mentions(session, address, message_ids, scrub)
    touched |= {m.id for m in others}
    _scrub_others_raw(session, others, scrub, blobs, done)
    _erase_attachments(session, message_ids, done, now)
    _erase_spool(session, address, message_ids, ticket_ids, scrub, done)
    _erase_outbox(session, address, message_ids, ticket_ids, scrub, done)
    session.execute(delete(TicketParticipant).where(func.lower(TicketParticipant.email) == address))
    _scrub_audit(session, address, ticket_ids, scrub, erased, done)
    if customer is not None:
        customer.email = f"{DELETED}#{customer.id}"
        customer.display_name = DELETED
        customer.bounce_detail = ""
        customer.deleted_at = customer.deleted_at or now
    session.flush()
    searchindex.reindex(session, touched)
    return done


def _erase_messages(
    session: Session,
    address: str,
    customer: Customer | None,
    ticket_ids: list[int],
    scrub: _Scrubber,
    erased: str,
    done: Erased,
) -> set[int]:
    """Erase the person's messages and every message of their tickets; their ids."""
    theirs = [func.lower(Message.from_email) == address]
    if customer is not None:
        theirs.append(Message.customer_id == customer.id)
    if ticket_ids:
        theirs.append(Message.ticket_id.in_(ticket_ids))
    messages = list(session.scalars(select(Message).where(or_(*theirs))))
    for message in messages:
        message.subject = message.body_text = message.trimmed_text = erased
        message.body_html = ""
        if message.from_email.lower() == address or message.customer_id == done.customer_id:
            message.from_email, message.from_name = DELETED, DELETED
        message.to_addrs = scrub.addresses(message.to_addrs)
        message.cc_addrs = scrub.addresses(message.cc_addrs)
        message.thread_reason = scrub.text(message.thread_reason)
    done.messages = len(messages)
    return {m.id for m in messages}


def _scrub_mentions(
    session: Session, address: str, erased_ids: set[int], scrub: _Scrubber
) -> list[Message]:
    """Other people's messages that name the person as a recipient: the address goes."""
    like = f"%{address}%"
    named = session.scalars(
        select(Message).where(
            or_(
                cast(Message.to_addrs, String).ilike(like),
                cast(Message.cc_addrs, String).ilike(like),
            )
        )
    )
    others: list[Message] = []
    for message in named:
        if message.id in erased_ids:
            continue
        message.to_addrs = scrub.addresses(message.to_addrs)
        message.cc_addrs = scrub.addresses(message.cc_addrs)
        message.thread_reason = scrub.text(message.thread_reason)
        others.append(message)
    return others


def _scrub_others_raw(
    session: Session,
    others: list[Message],
    scrub: _Scrubber,
    blobs: BlobStore | None,
    done: Erased,
) -> None:
    """Someone else's mail that names them keeps its bytes, without their address and name."""
    spool_ids = sorted({m.spool_id for m in others if m.spool_id is not None})
    pks = sorted(m.id for m in others)
    rows: list[InboundSpool | Outbox] = []
    for batch in chunks(spool_ids):
        rows += session.scalars(select(InboundSpool).where(InboundSpool.id.in_(batch)))
    for batch in chunks(pks):
        rows += session.scalars(select(Outbox).where(Outbox.message_pk.in_(batch)))
    for row in rows:
        if row.raw is not None:
            row.raw = scrub.raw(bytes(row.raw))
        elif row.raw_key and blobs is not None:
            try:
                data = blobs.get(row.raw_key)
            except KeyError:
                continue
            cleaned = scrub.raw(data)
            if cleaned != data:
                done.blob_keys.add(row.raw_key)
                row.raw_key = blobs.put(cleaned)


def _erase_attachments(
    session: Session, message_ids: set[int], done: Erased, now: datetime
) -> None:
    keys: set[str] = set()
    for batch in chunks(sorted(message_ids)):
        rows = session.scalars(select(Attachment).where(Attachment.message_pk.in_(batch)))
        for row in rows:
            if row.storage_key:
                keys.add(row.storage_key)
            row.filename, row.storage_key, row.content_id = "[erased]", "", ""
            row.erased_at = row.erased_at or now
            done.attachments += 1
    session.flush()
    for key in keys:  # a file shared with someone else's attachment stays
        still = session.scalar(select(Attachment.id).where(Attachment.storage_key == key).limit(1))
        if still is None:
            done.blob_keys.add(key)


# Each step of an erasure takes the same arguments: what it finds is its own.
def _erase_spool(
    session: Session,
    address: str,
    message_ids: set[int],
    ticket_ids: list[int],
    scrub: _Scrubber,
    done: Erased,
) -> None:
    spool_ids = {
        sid
        for batch in chunks(sorted(message_ids))
        for sid in session.scalars(select(Message.spool_id).where(Message.id.in_(batch)))
        if sid is not None
    }
    found = [func.lower(InboundSpool.mail_from) == address]
    found.append(cast(InboundSpool.rcpt_to, String).ilike(f"%{address}%"))
    found.append(InboundSpool.from_header.ilike(f"%<{address}>%"))
    found.append(func.lower(InboundSpool.from_header) == address)
    if ticket_ids:
        found.append(InboundSpool.ticket_id.in_(ticket_ids))
    rows = {r.id: r for r in session.scalars(select(InboundSpool).where(or_(*found)))}
    for batch in chunks(sorted(spool_ids - set(rows))):
        rows.update(
            {
                r.id: r
                for r in session.scalars(select(InboundSpool).where(InboundSpool.id.in_(batch)))
            }
        )
    for row in rows.values():
        if row.raw_key:
            done.blob_keys.add(row.raw_key)
        row.raw, row.raw_key = None, None
        row.mail_from = scrub.text(row.mail_from)
        row.rcpt_to = scrub.addresses(row.rcpt_to)
        row.source_ref = scrub.text(row.source_ref)
        row.from_header = scrub.text(row.from_header)
        row.subject = DELETED if row.subject else ""  # their words, as the raw mail was
        row.detail, row.last_error = scrub.text(row.detail), scrub.text(row.last_error)
        done.spool_rows += 1


def _erase_outbox(
    session: Session,
    address: str,
    message_ids: set[int],
    ticket_ids: list[int],
    scrub: _Scrubber,
    done: Erased,
) -> None:
    found = [func.lower(Outbox.rcpt) == address]
    if ticket_ids:
        found.append(Outbox.ticket_id.in_(ticket_ids))
    if message_ids:
        found += [Outbox.message_pk.in_(batch) for batch in chunks(sorted(message_ids))]
    for row in session.scalars(select(Outbox).where(or_(*found))):
        if row.raw_key:
            done.blob_keys.add(row.raw_key)
        if row.message_id:
            done.outbox_message_ids.add(row.message_id)
        row.raw, row.raw_key = None, None
        if row.rcpt.lower() == address:
            row.rcpt = DELETED
        row.last_error = scrub.text(row.last_error)
        if row.state == "queued":  # nothing about them leaves any more
            row.state, row.reason = "suppressed", "erased"
        done.outbox_rows += 1


def _scrub_audit(
    session: Session,
    address: str,
    ticket_ids: list[int],
    scrub: _Scrubber,
    erased: str,
    done: Erased,
) -> None:
    found = [func.lower(AuditLog.actor) == address]
    found.append(cast(AuditLog.payload, String).ilike(f"%{address}%"))
    if ticket_ids:
        found += [AuditLog.ticket_id.in_(batch) for batch in chunks(ticket_ids)]
    mine = set(ticket_ids)
    for row in session.scalars(select(AuditLog).where(or_(*found))):
        row.payload = scrub.payload(dict(row.payload or {}), row.ticket_id in mine, erased)
        if scrub.found_in(row.actor):
            row.actor = DELETED
        done.audit_rows += 1
