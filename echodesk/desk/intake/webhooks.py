"""What the machine-facing endpoints do: inbound mail, provider bounces, Investigate snapshots.

* Inbound mail and bounces go into the spool like any received message
  (committed before the endpoint answers), and the worker handles them as
  it handles SMTP mail: same threading, rules, commands, duplicate check.
* A snapshot opens an internal ticket tagged ``investigate`` (no customer,
  no customer mail), or adds to the open one for the same deploy and surface;
  the snapshot is kept as a JSON attachment and shown, pretty-printed, in the
  note. An ``Idempotency-Key`` becomes the note's Message-ID, so a retried
  call finds the note it made the first time instead of making another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.intake.accept import Intake
from echodesk.desk.outbound.notify import Event, Notifier
from echodesk.desk.tickets.status import opened
from echodesk.mailbox.compose import new_message_id
from echodesk.mailbox.message import Envelope
from echodesk.mailbox.postmark import PayloadError, bounce_to_dsn, inbound_to_raw
from echodesk.statuses import UNRESOLVED
from echodesk.store import writes
from echodesk.store.db import Database
from echodesk.store.models import Attachment, Message, Outbox, Ticket, TicketTag
from echodesk.store.types import utcnow

BOUNCE_RECORDS = ("Bounce", "SpamComplaint")
LOOKBACK = timedelta(days=60)


@dataclass(frozen=True)
class SnapshotResult:
    number: int
    created: bool
    replayed: bool
    #: The Idempotency-Key came before with a different body: nothing was done.
    key_reused: bool = False


@dataclass(frozen=True)
class _Note:
    """What one snapshot request asks for, as the note that records it."""

    mid: str
    digest: str
    fields: dict[str, Any]
    snapshot: Any
    requested_by: str


def _addresses(payload: dict[str, Any], key: str) -> list[str]:
    full = payload.get(f"{key}Full")
    if isinstance(full, list):
        return [str(a.get("Email", "")) for a in full if isinstance(a, dict) and a.get("Email")]
    return []


class Webhooks:
    """The desk's side of the webhook endpoints (the web layer calls these)."""

    def __init__(self, db: Database, ctx: DeskContext) -> None:
        self.db = db
        self.ctx = ctx
        self.intake = Intake(db, ctx)

    # -- inbound mail -------------------------------------------------------------
    def inbound(self, payload: dict[str, Any]) -> int:
        """Spool one inbound message (committed on return); its spool row id."""
        raw = inbound_to_raw(payload)
        rcpt = tuple(_addresses(payload, "To") + _addresses(payload, "Cc"))
        envelope = Envelope(
            source="webhook",
            rcpt_to=rcpt,
            peer="postmark",
            source_ref=str(payload.get("MessageID", ""))[:200],
        )
        return self.intake.accept(raw, envelope)

    # -- provider bounces ---------------------------------------------------------
    def bounce(self, payload: dict[str, Any]) -> str:
        """Spool a bounce as the DSN it stands for; record other record types."""
        record = str(payload.get("RecordType") or "Bounce")
        if record not in BOUNCE_RECORDS:
            with self.db.transaction() as session:
                audit.record(
                    session,
                    "webhook:postmark",
                    "webhooks.ignored",
                    None,
                    {"record_type": record[:60]},
                )
            return "recorded"
        email = str(payload.get("Email") or "").strip().lower()
        if "@" not in email:
            raise PayloadError("Email: the address that bounced is required")
        to = self._bounce_address(email) or self.ctx.settings.support_address
        raw = bounce_to_dsn(payload, to, self.ctx.settings.outgoing_domain)
        envelope = Envelope(
            source="webhook",
            rcpt_to=(to,),
            peer="postmark bounce",
            source_ref=str(payload.get("ID", ""))[:200],
        )
        self.intake.accept(raw, envelope)
        return "queued"

    def _bounce_address(self, email: str) -> str | None:
        """The VERP address of the newest mail Echo sent to this address lately."""
        since = utcnow() - LOOKBACK
        with self.db.reading() as session:
            row = session.scalar(
                select(Outbox.id)
                .where(
                    Outbox.rcpt == email,
                    Outbox.state.in_(("sent", "failed")),
                    Outbox.created_at >= since,
                )
                .order_by(Outbox.id.desc())
                .limit(1)
            )
        return self.ctx.addresses.bounce_address(row) if row is not None else None

    # -- Investigate snapshots ----------------------------------------------------
    def snapshot(self, payload: dict[str, Any], key: str | None) -> SnapshotResult:
        """Open or extend the investigation ticket of a deploy and surface.

        A key seen before answers what it did then when the body is the same (a
        retry); with another body it does nothing and says so (``key_reused``):
        a key names one request, and replaying a different one would claim work
        that was never done.
        """
        fields = {k: payload.get(k) for k in ("deploy_id", "surface_id", "title", "severity")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
        if missing:
            raise PayloadError(f"required text field(s) missing: {', '.join(missing)}")
        requested_by = payload.get("requested_by")
        if requested_by is not None and not isinstance(requested_by, str):
            raise PayloadError("requested_by: expected text")
        if "snapshot" not in payload:
            raise PayloadError("snapshot: required (any JSON)")
        domain = self.ctx.settings.outgoing_domain
        mid = (
            f"snapshot.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}"
            if key
            else new_message_id(domain)
        )
        # The body's fingerprint, kept as the note's content hash: same JSON, same hash.
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        note = _Note(mid, digest, fields, payload["snapshot"], str(requested_by or ""))
        try:
            return self._record(note)
        except IntegrityError:  # the same key a moment ago, from a request beside this one
            return self._record(note)

    def _record(self, note: _Note) -> SnapshotResult:
        with self.db.transaction() as session:
            known = session.execute(
                select(Message.ticket_id, Message.content_hash).where(
                    Message.message_id == note.mid
                )
            ).first()
            if known is not None:
                ticket = session.get(Ticket, known.ticket_id)
                assert ticket is not None
                reused = bool(known.content_hash) and known.content_hash != note.digest
                return SnapshotResult(
                    ticket.number, created=False, replayed=not reused, key_reused=reused
                )
            ticket, created = self._ticket(session, note.fields, note.requested_by)
            self._note(session, ticket, note)
            session.flush()
            notifier = Notifier(session, self.ctx)
            notifier.notify(
                ticket.id,
                Event.NEW_TICKET if created else Event.NOTE,
                None,
                now=utcnow(),
                detail=f"Investigate: {note.fields['title']}",
            )
            notifier.flush(utcnow())
            return SnapshotResult(ticket.number, created=created, replayed=False)

    def _ticket(
        self, session: Any, fields: dict[str, Any], requested_by: str
    ) -> tuple[Ticket, bool]:
        tags = [
            "investigate",
            _tag("deploy", fields["deploy_id"]),
            _tag("surface", fields["surface_id"]),
        ]
        stmt = (
            select(Ticket)
            .join(TicketTag, TicketTag.ticket_id == Ticket.id)
            .where(
                Ticket.status.in_(UNRESOLVED),
                Ticket.merged_into_id.is_(None),
                TicketTag.tag.in_(tags),
            )
            .group_by(Ticket.id)
            .having(func.count() == len(tags))
            .order_by(Ticket.id.desc())
        )
        found = session.scalars(stmt).first()
        if found is not None:
            found.updated_at = utcnow()
            return found, False
        now = utcnow()
        ticket = writes.add_ticket(
            session,
            now,
            priority=_priority(fields["severity"]),
            subject=f"[{fields['severity']}] {fields['title']}"[:2000],
            **opened(now),
        )
        writes.add_tags(session, ticket.id, tags)
        audit.record(
            session,
            requested_by or "webhook:snapshot",
            "tickets.create",
            ticket,
            {"by": "snapshot", "deploy": fields["deploy_id"][:100]},
            now,
        )
        return ticket, True

    def _note(self, session: Any, ticket: Ticket, note: _Note) -> None:
        fields, requested_by = note.fields, note.requested_by
        pretty = json.dumps(note.snapshot, indent=2, ensure_ascii=False, sort_keys=True)
        shown = (
            pretty
            if len(pretty) <= 20_000
            else pretty[:20_000] + "\n… (the whole snapshot is attached)"
        )
        text = (
            f"Investigate: {fields['title']}\n"
            f"Severity: {fields['severity']}   Deploy: {fields['deploy_id']}   "
            f"Surface: {fields['surface_id']}\n"
            + (f"Requested by: {requested_by}\n" if requested_by else "")
            + f"\nSnapshot:\n{shown}\n"
        )
        now = utcnow()
        message = Message(
            ticket_id=ticket.id,
            direction="internal",
            kind="snapshot",
            message_id=note.mid,
            content_hash=note.digest,
            from_email="",
            from_name=requested_by or "Ops console",
            subject=ticket.subject,
            body_text=text,
            trimmed_text=text,
            thread_reason="snapshot",
            created_at=now,
            sent_at=now,
        )
        session.add(message)
        session.flush()
        data = pretty.encode("utf-8")
        key = self.ctx.blobs.put(data)
        session.add(
            Attachment(
                message_pk=message.id,
                filename="snapshot.json",
                content_type="application/json",
                size=len(data),
                sha256=key,
                storage_key=key,
            )
        )
        audit.record(
            session,
            requested_by or "webhook:snapshot",
            "tickets.snapshot",
            ticket,
            {"message": message.id, "bytes": len(data)},
            now,
        )


def _tag(kind: str, value: str) -> str:
    clean = "".join(c if c.isalnum() or c in "-_.:" else "-" for c in value.strip().lower())
    return f"{kind}:{clean}"[:100]


def _priority(severity: str) -> str:
    level = severity.strip().lower()
    if level in ("critical", "sev1", "p1", "urgent", "outage"):
        return "urgent"
    if level in ("high", "major", "sev2", "p2", "degraded"):
        return "high"
    if level in ("low", "minor", "info", "p4"):
        return "low"
    return "normal"
