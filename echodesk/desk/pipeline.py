"""What happens to one spooled message (DESIGN §2 step 2).

``process`` runs inside the worker's transaction and never commits, retries
or catches: it parses, classifies, threads and writes ticket, message,
attachments and audit rows, and returns an :class:`Outcome`. If anything
raises, the worker rolls the whole message back and records the failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.desk.lookup import SessionLookup
from echodesk.desk.status import FOLLOWUP, after_customer_reply
from echodesk.desk.threader import Match, ThreadingKeys, find_ticket, subject_tag
from echodesk.errors import EchoError
from echodesk.mailbox.classify import Kind, classify
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.mailbox.trim import trim_reply
from echodesk.store import audit, customers, spool, tickets
from echodesk.store.models import (
    Attachment,
    Customer,
    InboundSpool,
    Message,
    Ticket,
)
from echodesk.store.types import utcnow

ACTOR = "system:pipeline"


@dataclass(frozen=True)
class Outcome:
    """What became of one spool row (also what ``echodesk ingest --json`` counts)."""

    spool_id: int
    state: str
    kind: str
    message_id: str
    ticket_id: int | None = None
    ticket_number: int | None = None
    created_ticket: bool = False
    appended: bool = False
    reason: str = ""


def process(session: Session, row: InboundSpool, ctx: DeskContext) -> Outcome:
    """Turn one pending spool row into ticket changes, in the caller's transaction."""
    msg = parse_message(spool.raw_bytes(row, ctx.blobs))
    _lock_thread_keys(session, msg)
    row.content_hash = msg.content_hash
    stored_id, duplicate_of = _stored_message_id(session, row, msg)
    if duplicate_of:
        return _finish(row, "duplicate", "duplicate", stored_id, None, duplicate_of)
    verdict = classify(msg, ctx.own_addresses)
    if verdict.kind in (Kind.BOUNCE, Kind.LOOP):
        audit.record(
            session,
            actor=ACTOR,
            action=f"mail.{verdict.kind.value}",
            target_type="spool",
            target_id=row.id,
            payload={"reason": verdict.reason},
        )
        return _finish(row, "processed", verdict.kind.value, stored_id, None, verdict.reason)
    match = find_ticket(_keys(msg, stored_id, ctx), SessionLookup(session))
    if verdict.kind is Kind.AUTO_REPLY:
        return _auto_reply(session, row, msg, stored_id, match, verdict.reason, ctx)
    return _customer_mail(session, row, msg, stored_id, match, ctx)


def _keys(msg: ParsedMessage, stored_id: str, ctx: DeskContext) -> ThreadingKeys:
    return ThreadingKeys(
        message_id=stored_id,
        in_reply_to=msg.in_reply_to,
        references=msg.references,
        subject_tag=subject_tag(msg.subject, ctx.tag_pattern),
        sender=msg.from_.key if msg.from_ else "",
    )


class ConversationBusy(EchoError):
    """Another worker holds a message of this conversation; try again shortly."""


def _lock_thread_keys(session: Session, msg: ParsedMessage) -> None:
    """Serialise workers that handle messages of one conversation (PostgreSQL).

    A reply and its parent processed at the same instant by two workers would
    each miss the other and open two tickets; a transaction-level advisory
    lock per Message-ID involved keeps them apart. The lock is only *tried*:
    waiting could deadlock two workers whose batches overlap, so a busy
    conversation is handed back to the queue instead.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already admits one writer at a time
    for key in sorted({msg.message_id, *msg.thread_ids}):
        got = session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key}
        ).scalar_one()
        if not got:
            raise ConversationBusy(f"conversation of <{key}> is being processed elsewhere")


def _stored_message_id(session: Session, row: InboundSpool, msg: ParsedMessage) -> tuple[str, str]:
    """The id to store the message under, and a reason if it is a duplicate.

    Same Message-ID and same content: a redelivery. Same Message-ID but other
    content (some mailers reuse ids): a different message, stored under a
    derived id so neither is lost.
    """
    seen = session.execute(
        select(InboundSpool.id).where(
            InboundSpool.message_id == msg.message_id,
            InboundSpool.content_hash == msg.content_hash,
            InboundSpool.state.in_(("processed", "quarantined")),
            InboundSpool.id != row.id,
        )
    ).first()
    if seen is not None:
        return msg.message_id, f"same Message-ID and content as spool row {seen[0]}"
    existing = tickets.message_by_id(session, msg.message_id)
    if existing is None:
        return msg.message_id, ""
    if existing.content_hash == msg.content_hash or existing.direction != "inbound":
        return msg.message_id, f"already stored as message {existing.id}"
    derived = f"{msg.message_id}#{msg.content_hash[:16]}"
    if tickets.message_by_id(session, derived) is not None:
        return derived, "already stored under a derived Message-ID"
    return derived, ""


def _finish(
    row: InboundSpool,
    state: str,
    kind: str,
    message_id: str,
    ticket: Ticket | None,
    reason: str,
    *,
    created: bool = False,
) -> Outcome:
    spool.mark_done(
        row,
        state=state,
        kind=kind,
        message_id=message_id,
        ticket_id=ticket.id if ticket else None,
        detail=reason,
    )
    return Outcome(
        spool_id=row.id,
        state=state,
        kind=kind,
        message_id=message_id,
        ticket_id=ticket.id if ticket else None,
        ticket_number=ticket.number if ticket else None,
        created_ticket=created,
        appended=ticket is not None and not created,
        reason=reason,
    )


def _auto_reply(
    session: Session,
    row: InboundSpool,
    msg: ParsedMessage,
    stored_id: str,
    match: Match,
    reason: str,
    ctx: DeskContext,
) -> Outcome:
    """Auto-replies are kept on their ticket when they thread, and never answered."""
    if match.ticket_id is None:
        return _finish(row, "processed", Kind.AUTO_REPLY.value, stored_id, None, reason)
    ticket = session.get_one(Ticket, match.ticket_id)
    _store_message(session, ctx, row, msg, stored_id, ticket, None, Kind.AUTO_REPLY, match.reason)
    return _finish(row, "processed", Kind.AUTO_REPLY.value, stored_id, ticket, reason)


def _customer_mail(
    session: Session,
    row: InboundSpool,
    msg: ParsedMessage,
    stored_id: str,
    match: Match,
    ctx: DeskContext,
) -> Outcome:
    now = utcnow()
    seen = min(msg.date, now) if msg.date else now  # imports of old mail keep their dates
    sender = msg.from_
    customer = customers.upsert(session, sender.key, sender.name, seen) if sender else None
    ticket, created, reason = _target_ticket(session, msg, match, customer, ctx)
    _join_early_replies(session, ticket, stored_id)
    _store_message(session, ctx, row, msg, stored_id, ticket, customer, Kind.CUSTOMER, reason)
    return _finish(
        row, "processed", Kind.CUSTOMER.value, stored_id, ticket, reason, created=created
    )


def _target_ticket(
    session: Session,
    msg: ParsedMessage,
    match: Match,
    customer: Customer | None,
    ctx: DeskContext,
) -> tuple[Ticket, bool, str]:
    """The ticket the message goes to (reopened, or a new follow-up), and whether it is new."""
    if match.ticket_id is None:
        ticket = _open_ticket(session, msg, customer, ctx, mentioned=match.mentioned)
        return ticket, True, match.reason
    ticket = session.get_one(Ticket, match.ticket_id)
    new_status = after_customer_reply(ticket.status, ctx.settings.closed_reply)
    if new_status == FOLLOWUP:
        followup = _open_ticket(session, msg, customer, ctx, followup_of=ticket)
        return followup, True, f"follow-up of closed ticket ({match.reason})"
    if new_status != ticket.status:
        audit.record(
            session,
            actor=ACTOR,
            action="tickets.reopen",
            target_type="ticket",
            target_id=ticket.number,
            ticket_id=ticket.id,
            payload={"from": ticket.status, "to": new_status},
        )
        ticket.status = new_status
        ticket.closed_at = None
    if match.reason.startswith("parent of"):
        ticket.subject = msg.subject or ticket.subject  # the root's subject, not "Re: ..."
    return ticket, False, match.reason


def _open_ticket(
    session: Session,
    msg: ParsedMessage,
    customer: Customer | None,
    ctx: DeskContext,
    *,
    mentioned: int | None = None,
    followup_of: Ticket | None = None,
) -> Ticket:
    now = utcnow()
    ticket = Ticket(
        number=tickets.next_number(session),
        customer_id=customer.id if customer else None,
        status="open",
        priority="normal",
        subject=msg.subject[:2000],
        created_at=now,
        updated_at=now,
        followup_of_id=followup_of.id if followup_of else None,
    )
    session.add(ticket)
    session.flush()
    payload: dict[str, object] = {"subject_length": len(ticket.subject)}
    if mentioned is not None:
        payload["mentions"] = ctx.settings.ticket_label(mentioned)
    if followup_of is not None:
        payload["followup_of"] = ctx.settings.ticket_label(followup_of.number)
    audit.record(
        session,
        actor=ACTOR,
        action="tickets.create",
        target_type="ticket",
        target_id=ticket.number,
        ticket_id=ticket.id,
        payload=payload,
    )
    return ticket


def _join_early_replies(session: Session, ticket: Ticket, message_id: str) -> None:
    """Tickets opened by replies that came before this, their parent, join this ticket."""
    for other_id in tickets.tickets_referencing(session, message_id):
        other = tickets.resolve_merged(session, session.get_one(Ticket, other_id))
        if other.id == ticket.id:
            continue
        moved = tickets.move_messages(session, other.id, ticket.id)
        other.merged_into_id = ticket.id
        other.status = "closed"
        other.closed_at = utcnow()
        audit.record(
            session,
            actor=ACTOR,
            action="tickets.merge",
            target_type="ticket",
            target_id=other.number,
            ticket_id=ticket.id,
            payload={
                "into": ticket.number,
                "messages": moved,
                "reason": "replies arrived before their parent",
            },
        )


def _store_message(
    session: Session,
    ctx: DeskContext,
    row: InboundSpool,
    msg: ParsedMessage,
    stored_id: str,
    ticket: Ticket,
    customer: Customer | None,
    kind: Kind,
    reason: str,
) -> Message:
    now = utcnow()
    sender = msg.from_
    message = Message(
        ticket_id=ticket.id,
        direction="inbound",
        kind=kind.value,
        message_id=stored_id,
        content_hash=msg.content_hash,
        in_reply_to=" ".join(msg.in_reply_to),
        reference_ids=" ".join(msg.references),
        from_email=sender.key if sender else "",
        from_name=sender.name if sender else "",
        to_addrs=[str(a) for a in msg.to],
        cc_addrs=[str(a) for a in msg.cc],
        subject=msg.subject,
        body_text=msg.text,
        body_html=msg.html,
        trimmed_text=trim_reply(msg.text).text,
        customer_id=customer.id if customer else None,
        spool_id=row.id,
        thread_reason=reason[:1000],
        defects=list(msg.defects[:50]),
        sent_at=msg.date,
        created_at=now,
    )
    session.add(message)
    session.flush()
    tickets.add_references(session, message.id, msg.thread_ids)
    for part in msg.attachments:
        session.add(
            Attachment(
                message_pk=message.id,
                filename=part.filename,
                content_type=part.content_type[:255],
                size=part.size,
                sha256=part.sha256,
                storage_key=ctx.blobs.put(part.data),
                content_id=part.content_id[:998],
                inline=part.inline,
            )
        )
    _add_participants(session, ctx, ticket, msg, customer, kind)
    ticket.updated_at = now
    audit.record(
        session,
        actor=sender.key if sender else ACTOR,
        action="messages.inbound",
        target_type="message",
        target_id=message.id,
        ticket_id=ticket.id,
        payload={
            "kind": kind.value,
            "thread_reason": reason[:200],
            "attachments": len(msg.attachments),
        },
    )
    return message


def _add_participants(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    msg: ParsedMessage,
    customer: Customer | None,
    kind: Kind,
) -> None:
    if kind is not Kind.CUSTOMER:
        return
    if customer is not None:
        tickets.add_participants(session, ticket.id, [customer.email], "customer")
    own = set(ctx.own_addresses)
    domains = set(ctx.settings.served_domains)
    cc = [a.key for a in (*msg.cc, *msg.to) if a.key not in own and a.domain not in domains]
    tickets.add_participants(session, ticket.id, cc, "cc")
