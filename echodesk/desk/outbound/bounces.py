"""What a bounce does: match it to the mail Echo sent, then stop mailing a dead address.

A delivery report is matched to an outbox row by the signed VERP address it
was sent to (exact: one row is one message to one recipient), or else by the
Message-ID of the returned original plus the failed recipient. A report that
matches nothing Echo sent (backscatter from forged mail, a stray DSN) is
recorded and changes nothing, so nobody can get a customer silenced by
sending a fake bounce about mail Echo never sent.

A permanent failure (5.x.x, or any report whose sender has given up) marks
the customer bounced, suppresses their queued mail, turns the bounced row
``failed`` and adds an internal note to the ticket (its agents are notified);
a temporary one is recorded only. An abuse complaint about mail Echo sent
(matched the same way: the VERP address the original was sent from, or its
Message-ID) silences the complainant as a hard bounce does, with the
complaint as the reason, but leaves the row ``sent``: it was delivered.
None of them opens a ticket or is ever answered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.batch import BatchIndex
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import RecordBounce
from echodesk.desk.item import Item
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.desk.outbound.queue import BOUNCED
from echodesk.mailbox.bounce import FailedRecipient
from echodesk.mailbox.compose import new_message_id
from echodesk.store import customers, outbox, writes
from echodesk.store.lookups import OutboxRef

log = logging.getLogger(__name__)
ACTOR = "system:pipeline"
#: Why queued mail to a complainant is held back.
COMPLAINED = "complained-recipient"


@dataclass(frozen=True)
class Matched:
    event: RecordBounce | None
    reason: str


def _entry_for(recipients: tuple[FailedRecipient, ...], rcpt: str) -> FailedRecipient | None:
    return next((r for r in recipients if r.address == rcpt), None)


def _by_original(item: Item, index: BatchIndex) -> tuple[OutboxRef, FailedRecipient] | None:
    report = item.bounce
    if report is None or not report.original_message_id:
        return None
    rows = index.outbox_by_message.get(report.original_message_id, [])
    for row in rows:
        entry = _entry_for(report.recipients, row.rcpt)
        if entry is not None:
            return row, entry
    return None


def _event(
    item: Item,
    index: BatchIndex,
    row: OutboxRef,
    *,
    status: str,
    diagnostic: str,
    permanent: bool,
    complaint: str = "",
) -> RecordBounce:
    """The event about one outbox row: a bounce and a complaint are filed alike, on
    the ticket the row was sent from as it lives on after merges (None when the
    batch does not know that ticket)."""
    ticket = index.live(row.ticket_id) if row.ticket_id in index.tickets else None
    return RecordBounce(
        spool_row=item.row_id,
        outbox_id=row.id,
        ticket=ticket,
        rcpt=row.rcpt,
        status=status,
        diagnostic=diagnostic,
        permanent=permanent,
        complaint=complaint,
    )


def match_bounce(item: Item, index: BatchIndex) -> Matched:
    """Which outbox row (and recipient, status) a bounce is about, and why."""
    report = item.bounce
    recipients = report.recipients if report else ()
    row: OutboxRef | None = None
    entry: FailedRecipient | None = None
    if item.verp_outbox is not None:
        row = index.outbox.get(item.verp_outbox)
        if row is None:
            return Matched(None, f"bounce address names outbox row {item.verp_outbox}, now gone")
        entry = _entry_for(recipients, row.rcpt) or (
            recipients[0] if len(recipients) == 1 else None
        )
        if entry is None:
            return Matched(
                None,
                f"mail to the bounce address of outbox row {row.id} without a "
                "readable failure report",
            )
    else:
        found = _by_original(item, index)
        if found is None:
            return Matched(None, "delivery report for mail Echo did not send (or unreadable)")
        row, entry = found
    if entry.action == "delivered" or not (entry.permanent or entry.temporary):
        return Matched(
            None, f"delivery report for outbox row {row.id}: {entry.action or 'no failure'}"
        )
    event = _event(
        item,
        index,
        row,
        status=entry.status,
        diagnostic=entry.diagnostic,
        permanent=entry.permanent,
    )
    kind = "permanent" if entry.permanent else "temporary"
    return Matched(event, f"{kind} failure {entry.status or '?'} for outbox row {row.id}")


def match_complaint(item: Item, index: BatchIndex) -> Matched:
    """Which outbox row a complaint is about: by VERP, else by the original's Message-ID.

    Reporters often hide the complainant's address; the row found by the
    original's envelope sender (our VERP address) or, when its Message-ID went
    to one recipient only, by that id, still names them.
    """
    report = item.complaint
    if report is None:
        return Matched(None, "unreadable complaint report")
    row = index.outbox.get(item.verp_outbox) if item.verp_outbox is not None else None
    if row is None:
        rows = index.outbox_by_message.get(report.original_message_id, [])
        named = [r for r in rows if r.rcpt in report.recipients]
        row = named[0] if named else rows[0] if len(rows) == 1 else None
    if row is None:
        return Matched(None, "complaint about mail Echo did not send (or unreadable)")
    if not report.unwanted:
        return Matched(None, f"{report.feedback_type} report for outbox row {row.id}: no complaint")
    event = _event(
        item,
        index,
        row,
        status="",
        diagnostic=f"{report.feedback_type} report from {report.reporter or 'a mail provider'}",
        permanent=True,
        complaint=report.feedback_type,
    )
    return Matched(event, f"{report.feedback_type} complaint about outbox row {row.id}")


def _note_text(event: RecordBounce) -> str:
    if event.complaint:
        return (
            f"{event.rcpt} reported mail from Echo as unwanted ({event.diagnostic}).\n"
            f"Echo will not send further mail to {event.rcpt} (outbox row {event.outbox_id})."
        )
    why = f" ({event.diagnostic})" if event.diagnostic else ""
    return (
        f"Mail to {event.rcpt} could not be delivered: permanent failure "
        f"{event.status or 'without a status code'}{why}.\n"
        f"Echo will not send further mail to {event.rcpt} (outbox row {event.outbox_id})."
    )


def apply_bounces(
    session: Session,
    ctx: DeskContext,
    events: list[RecordBounce],
    ids: dict[int, int],
    now: datetime,
    notifier: Notifier,
) -> list[dict[str, Any]]:
    """Write what the batch's bounces change; returns their audit rows.

    The ticket's agents are told by a notification that carries the note.
    """
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for event in events:
        ticket_id = ids.get(event.ticket) if event.ticket is not None else None
        payload = {
            "outbox": event.outbox_id,
            "status": event.status,
            "permanent": event.permanent,
            "diagnostic": event.diagnostic[:300],
        }
        if event.complaint:
            payload["complaint"] = event.complaint
        if event.permanent:
            payload["suppressed"] = _silence(session, event, now)
            if ticket_id is not None:
                notes.append(_note_row(ctx, ticket_id, event, now))
                log.warning(
                    "%s on ticket %s: a customer's address is silenced (%s)",
                    "complaint" if event.complaint else "bounce",
                    ticket_id,
                    event.complaint or event.status,
                )
        target = ("outbox", event.outbox_id)
        rows.append(
            audit.row(
                ACTOR, _audit_action(event), payload, target=target, ticket_id=ticket_id, at=now
            )
        )
    pks = writes.insert_messages(session, notes, [[] for _ in notes])  # notes attach nothing
    for note, pk in zip(notes, pks, strict=True):
        detail = f"mail to a customer bounced ({note['subject']})"
        if note["kind"] == "complaint":
            detail = f"a customer complained about our mail ({note['subject']})"
        notifier.notify(note["ticket_id"], Notice.BOUNCE, pk, now=now, detail=detail)
    return rows


def _audit_action(event: RecordBounce) -> str:
    if event.complaint:
        return "mail.complaint"
    return "mail.bounce" if event.permanent else "mail.bounce.temporary"


def _silence(session: Session, event: RecordBounce, now: datetime) -> int:
    """Mark the address bounced and hold back its queued mail; how many rows were held."""
    detail = " ".join(f"{event.status} {event.diagnostic}".split())[:400]
    if event.complaint:  # the mail was delivered: its row stays sent
        detail = f"complaint: {event.diagnostic}"[:400]
    customers.mark_bounced(session, event.rcpt, detail, now)
    if event.complaint:
        return outbox.suppress_queued_to(session, event.rcpt, COMPLAINED)
    outbox.mark_bounced(session, event.outbox_id, detail)
    return outbox.suppress_queued_to(session, event.rcpt, BOUNCED)


def _note_row(
    ctx: DeskContext, ticket_id: int, event: RecordBounce, now: datetime
) -> dict[str, Any]:
    text = _note_text(event)
    return {
        "ticket_id": ticket_id,
        "direction": "internal",
        "kind": "complaint" if event.complaint else "bounce",
        "message_id": new_message_id(ctx.settings.outgoing_domain),
        "content_hash": "",
        "in_reply_to": "",
        "reference_ids": "",
        "from_email": "",
        "from_name": "Echo",
        "to_addrs": [],
        "cc_addrs": [],
        "subject": (
            f"{event.rcpt} complained about our mail"
            if event.complaint
            else f"Delivery to {event.rcpt} failed"
        ),
        "body_text": text,
        "body_html": "",
        "trimmed_text": text,
        "customer_id": None,
        "agent_id": None,
        "spool_id": event.spool_row,
        "thread_reason": "complaint" if event.complaint else "bounce",
        "defects": [],
        "sent_at": now,
        "created_at": now,
    }
