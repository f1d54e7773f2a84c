"""An agent's reply or internal note on a ticket, as one change in one transaction.

``echodesk reply`` and ``echodesk note`` come here, and so will agents' email
replies: the message row, its attachments, the outbox rows, the ticket's new
status and the audit row are written together by the caller's transaction,
so a reply is either queued completely or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.files import file_row
from echodesk.desk.outbound import notify
from echodesk.desk.outbound.queue import load_conversation, message_row, outgoing, queue
from echodesk.desk.tickets.status import agent_replied
from echodesk.errors import CommandError, NotFoundError
from echodesk.mailbox.compose import new_message_id
from echodesk.mailbox.message import AttachmentPart
from echodesk.store import agents, messages
from echodesk.store.agents import Agent
from echodesk.store.messages import Message
from echodesk.store.tickets import Ticket, by_number, live
from echodesk.store.types import utcnow


@dataclass(frozen=True)
class Posted:
    """What a reply or note became: the ticket, the stored message, the queued mail."""

    ticket_number: int
    message_id: str
    status: str
    outbox_ids: tuple[int, ...]
    suppressed: tuple[str, ...]


def live_ticket(session: Session, number: int) -> Ticket:
    """The ticket with this number, or the one it was merged into."""
    found = by_number(session, number)
    ticket = live(session, found.id) if found is not None else None
    if ticket is None:
        raise NotFoundError(f"no ticket number {number}")
    return ticket


def acting_agent(session: Session, email: str) -> Agent:
    agent = agents.by_email(session, email)
    if agent is None:
        raise NotFoundError(
            f"{email} is not an active agent (add one with 'echodesk agents add {email}')"
        )
    return agent


def _store_attachments(
    session: Session, ctx: DeskContext, message: Message, files: tuple[AttachmentPart, ...]
) -> None:
    rows = [file_row(message.id, part, ctx.blobs.put(part.data)) for part in files]
    messages.attach(session, rows)


def reply_on(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: Agent,
    text: str,
    attachments: tuple[AttachmentPart, ...] = (),
    *,
    now: datetime,
    notifier: notify.Notifier | None = None,
) -> Posted:
    """Queue an agent's reply to the ticket's customer (and CCs) and move the ticket on;
    the agents following the ticket get it in its notification thread."""
    body = text.strip("\n")
    if not body.strip() and not attachments:
        raise CommandError("the reply is empty: nothing is sent to the customer")
    conv = load_conversation(session, ticket)
    if conv.customer is None:
        raise CommandError(
            f"{ctx.settings.ticket_label(ticket.number)} has no customer address to reply to"
        )
    mail = outgoing(ctx, conv, body, now=now, attachments=attachments)
    message = message_row(mail, ticket.id, kind="reply", agent_id=agent.id, now=now)
    message.from_name = agent.name or ctx.settings.support_name
    messages.add(session, message)
    _store_attachments(session, ctx, message, attachments)
    queued = queue(session, ctx, mail, purpose="reply", ticket_id=ticket.id, message_pk=message.id)
    before = agent_replied(ticket, ctx.settings.status_after_reply, now)
    ticket.updated_at = now
    audit.record(
        session,
        agent.email,
        "tickets.reply",
        ticket,
        {
            "message": message.id,
            "recipients": len(queued.ids),
            "suppressed": len(queued.suppressed),
            "attachments": len(attachments),
            "status": [before, ticket.status],
        },
    )
    session.flush()
    shared = notifier or notify.Notifier(session, ctx)
    shared.notify(ticket.id, notify.Notice.AGENT_REPLY, message.id, now=now, actor=agent.id)
    if notifier is None:
        shared.flush(now)
    return Posted(ticket.number, mail.message_id, ticket.status, queued.ids, queued.suppressed)


# Takes what reply_on takes, so that post() can call either.
def note_on(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: Agent,
    text: str,
    attachments: tuple[AttachmentPart, ...] = (),
    *,
    now: datetime,
    kind: str = "note",
    tell_agents: bool = True,
    notifier: notify.Notifier | None = None,
) -> Posted:
    """Add an internal note: kept on the ticket, never sent to the customer.

    Given the ``notifier`` of a larger change (an agent's mail with commands),
    the note is told to the agents in that change's one notification.
    """
    body = text.strip("\n")
    if not body.strip() and not attachments:
        raise CommandError("the note is empty")
    message = Message(
        ticket_id=ticket.id,
        direction="internal",
        kind=kind,
        message_id=new_message_id(ctx.settings.outgoing_domain),
        from_email=agent.email,
        from_name=agent.name,
        subject=ticket.subject,
        body_text=body,
        trimmed_text=body,
        agent_id=agent.id,
        created_at=now,
    )
    messages.add(session, message)
    _store_attachments(session, ctx, message, attachments)
    ticket.updated_at = now
    audit.record(session, agent.email, "tickets.note", ticket, {"message": message.id})
    session.flush()
    if tell_agents:
        shared = notifier or notify.Notifier(session, ctx)
        shared.notify(ticket.id, notify.Notice.NOTE, message.id, now=now, actor=agent.id)
        if notifier is None:
            shared.flush(now)
    return Posted(ticket.number, message.message_id, ticket.status, (), ())


def post(
    session: Session,
    ctx: DeskContext,
    number: int,
    agent_email: str,
    text: str,
    attachments: tuple[AttachmentPart, ...] = (),
    *,
    note: bool = False,
) -> Posted:
    """``echodesk reply`` (or, with ``note``, ``echodesk note``): the ticket by number,
    the agent by address; the two find them alike and differ only in what they post."""
    ticket = live_ticket(session, number)
    agent = acting_agent(session, agent_email)
    posting = note_on if note else reply_on
    return posting(session, ctx, ticket, agent, text, attachments, now=utcnow())
