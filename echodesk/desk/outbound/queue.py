"""Mail Echo sends on a ticket: who gets it, how it threads, and queueing it.

Every outgoing message on a ticket (an agent's reply, an acknowledgement, an
auto-close notice) goes through here, so they all carry the same threading:
Reply-To is the ticket's signed reply address, In-Reply-To the customer's
latest message, References the conversation's chain, and the subject one
``Re:`` plus the ticket tag. Each recipient gets an outbox row of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.mailbox.compose import (
    OutgoingMail,
    compose,
    new_message_id,
    reply_subject,
    shorten_references,
)
from echodesk.mailbox.message import Address, AttachmentPart
from echodesk.store import agents, customers, messages, outbox, tickets
from echodesk.store.messages import Message
from echodesk.store.outbox import NewMail
from echodesk.store.tickets import Ticket

BOUNCED = "bounced-recipient"


@dataclass(frozen=True)
class Conversation:
    """What an outgoing message on a ticket needs to know about the ticket."""

    ticket_id: int
    number: int
    subject: str
    customer: Address | None
    cc: tuple[Address, ...]
    thread: tuple[str, ...]
    last_inbound: str


def load_conversation(session: Session, ticket: Ticket) -> Conversation:
    """Read the ticket's customer, CC participants and message chain."""
    customer = customers.get(session, ticket.customer_id)
    to = None
    if customer is not None and customer.deleted_at is None and "@" in customer.email:
        to = Address(customer.display_name, customer.email)
    rows = messages.chain(session, ticket.id)
    # Ids stored under a derived form (an id reused with other content) were never sent.
    thread = tuple(mid for mid, _, _ in rows if "#" not in mid)
    inbound = [
        mid for mid, direction, kind in rows if direction == "inbound" and kind == "customer"
    ]
    skip = {to.key if to else "", *agents.addresses(session)}
    copied = tickets.copied(session, ticket.id)
    cc = tuple(Address("", email) for email in copied if email not in skip)
    return Conversation(
        ticket_id=ticket.id,
        number=ticket.number,
        subject=ticket.subject,
        customer=to,
        cc=cc,
        thread=thread,
        last_inbound=(inbound[-1] if inbound else thread[-1] if thread else "").split("#")[0],
    )


def outgoing(
    ctx: DeskContext,
    conv: Conversation,
    text: str,
    *,
    now: datetime,
    message_id: str | None = None,
    attachments: tuple[AttachmentPart, ...] = (),
    auto_submitted: str = "",
    with_cc: bool = True,
) -> OutgoingMail:
    """The message to the ticket's customer (and CCs), threaded into the conversation."""
    settings = ctx.settings
    return OutgoingMail(
        from_=Address(settings.support_name, settings.support_address),
        to=(conv.customer,) if conv.customer else (),
        cc=conv.cc if with_cc else (),
        reply_to=Address(settings.support_name, ctx.addresses.reply_address(conv.ticket_id)),
        subject=reply_subject(conv.subject, ctx.tag_pattern, settings.ticket_label(conv.number)),
        text=text,
        message_id=message_id or new_message_id(settings.outgoing_domain),
        date=now,
        in_reply_to=conv.last_inbound,
        references=shorten_references(conv.thread),
        attachments=attachments,
        auto_submitted=auto_submitted,
        loop_marker=ctx.loop_marker,
    )


@dataclass(frozen=True)
class Queued:
    """The outbox rows of one message, and the recipients held back because they bounced."""

    ids: tuple[int, ...]
    suppressed: tuple[str, ...]


def queue(
    session: Session,
    ctx: DeskContext,
    mail: OutgoingMail,
    *,
    purpose: str,
    ticket_id: int | None,
    message_pk: int | None,
) -> Queued:
    """Compose once, queue a row per recipient; bounced addresses are kept but suppressed."""
    raw = compose(mail)
    rcpts = list(dict.fromkeys(a.key for a in (*mail.to, *mail.cc)))
    bounced = outbox.bounced_among(session, rcpts)
    rows = [
        NewMail(
            rcpt=rcpt,
            raw=raw,
            message_id=mail.message_id,
            purpose=purpose,
            ticket_id=ticket_id,
            message_pk=message_pk,
            state=outbox.SUPPRESSED if rcpt in bounced else outbox.QUEUED,
            reason=BOUNCED if rcpt in bounced else "",
        )
        for rcpt in rcpts
    ]
    ids = outbox.queue(session, rows, ctx.blobs, ctx.settings.spool_inline_limit)
    return Queued(tuple(ids), tuple(r for r in rcpts if r in bounced))


def message_row(
    mail: OutgoingMail, ticket_id: int, *, kind: str, agent_id: int | None, now: datetime
) -> Message:
    """The conversation's record of an outgoing message (direction outbound)."""
    return Message(
        ticket_id=ticket_id,
        direction="outbound",
        kind=kind,
        message_id=mail.message_id,
        in_reply_to=mail.in_reply_to,
        reference_ids=" ".join(mail.references),
        from_email=mail.from_.key,
        from_name=mail.from_.name,
        to_addrs=[str(a) for a in mail.to],
        cc_addrs=[str(a) for a in mail.cc],
        subject=mail.subject,
        body_text=mail.text,
        trimmed_text=mail.text,
        agent_id=agent_id,
        sent_at=now,
        created_at=now,
    )
