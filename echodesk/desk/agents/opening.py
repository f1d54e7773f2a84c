"""Agents opening tickets by email: ``#new customer@example.com`` and ``#forward``.

New mail from an agent carries no signature (there is no notification to
answer), so it is trusted only as far as it is safe to:

* ``#forward`` opens a ticket for the forwarded message's original sender,
  with the original's subject and text as its first message; nothing is
  mailed to anyone but the agents. A forged forward can only make a ticket.
* ``#new`` opens a ticket for the named customer. The agent's text goes to the
  customer at once only when the sender is verified (DMARC or aligned DKIM
  pass from Echo itself or a trusted host: :mod:`echodesk.mailbox.trust`);
  otherwise it is kept as an internal draft and the
  agent gets the ticket's notification: replying to it (which proves the
  mailbox is theirs) sends the text. A forged From can never make Echo mail
  a customer.

A DKIM/SPF failure refuses either (checked before this module is reached).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.agents.answers import error_text, tell
from echodesk.desk.agents.plan import DbResolver, Handled, Plan, check_lines, customer_text
from echodesk.desk.agents.replies import note_on, reply_on
from echodesk.desk.commands.parse import CommandLine, find_commands
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.notify import Event, Notifier
from echodesk.desk.tickets.changes import apply_changes
from echodesk.desk.tickets.status import opened
from echodesk.mailbox.compose import new_message_id
from echodesk.mailbox.forward import Forwarded, recover_forward, without_forward_prefix
from echodesk.mailbox.message import Address, ParsedMessage
from echodesk.mailbox.trim import trim_reply
from echodesk.mailbox.trust import SenderCheck
from echodesk.store import writes
from echodesk.store.lookups import AgentRow, stored_messages
from echodesk.store.models import Agent, AuditLog, Message, Ticket

OPENERS = ("new", "forward", "fwd")


def opens_ticket(msg: ParsedMessage) -> bool:
    """Whether the first command line is ``#new`` or ``#forward``."""
    found = find_commands(msg.text)
    return bool(found.commands) and found.commands[0].verb in OPENERS


def _customer_of(first: CommandLine, msg: ParsedMessage, body: str) -> Address | Forwarded | str:
    """Who the ticket is for (``#new``), or the forwarded original; or why not."""
    if first.verb == "new":
        if len(first.args) != 1 or "@" not in first.args[0]:
            return "#new needs the customer's address: #new customer@example.com"
        address = first.args[0].strip("<>,;").lower()
        local, _, domain = address.rpartition("@")
        if not local or "." not in domain:
            return f"not a mail address: {first.args[0]}"
        return Address("", address)
    forwarded = recover_forward(msg, body)
    if forwarded is None:
        return "#forward: no forwarded message found (forward it inline or as an attachment)"
    return forwarded


def open_by_agent(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    msg: ParsedMessage,
    sender: SenderCheck,
    notifier: Notifier,
    now: datetime,
) -> Handled:
    """Open the ticket an agent's ``#new`` / ``#forward`` asks for, or explain why not."""
    found = find_commands(msg.text)
    first, rest = found.commands[0], found.commands[1:]
    who = _customer_of(first, msg, found.body)
    resolver = DbResolver(session, ctx, agent, ticket_id=-1)
    changes, errors = check_lines(rest, resolver)
    if isinstance(who, str):
        errors.insert(0, (first, who))
    if errors:
        planned = Plan(changes, errors, "", ())
        tell(session, ctx, agent, msg, error_text("a new ticket", planned), now)
        return Handled("agent", "new ticket refused: " + "; ".join(w for _, w in errors))
    assert not isinstance(who, str)
    if isinstance(who, Forwarded):
        ticket = _open(session, who.sender, without_forward_prefix(who.subject or msg.subject), now)
        _add_forwarded(session, ctx, ticket, who, agent, now)
        done = [f"ticket opened for {who.sender.key} from a forward"]
        note = customer_text(found.body)
        actor = session.get(Agent, agent.id)
        assert actor is not None
        if note:  # shown in the new ticket's notification
            note_on(session, ctx, ticket, actor, note, now=now, tell_agents=False)
    else:
        ticket = _open(session, who, without_forward_prefix(msg.subject), now)
        done = [f"ticket opened for {who.key}"]
        text = customer_text(found.body)
        done += _first_words(session, ctx, ticket, agent, msg, sender, text, now)
    label = ctx.settings.ticket_label(ticket.number)
    session.add(
        AuditLog(
            at=now,
            actor=agent.email,
            action="tickets.create",
            target_type="ticket",
            target_id=str(ticket.number),
            ticket_id=ticket.id,
            payload={"by": "agent mail", "command": first.verb},
        )
    )
    session.flush()
    done += apply_changes(
        session, ctx, ticket, agent, [c for _, c in changes if _applies(c)], notifier, now
    )
    draft = any("draft" in d for d in done)
    detail = f"opened by {agent.email}" + (
        ": reply to this mail to send the draft" if draft else ""
    )
    notifier.notify(
        ticket.id, Event.NEW_TICKET, None, now=now, actor=None if draft else agent.id, detail=detail
    )
    return Handled("agent", f"{label}: {', '.join(done)}", ticket.id, ticket.number, done)


def _applies(change: Change) -> bool:
    return change.kind not in ("note", "help", "merge")


def _open(session: Session, customer: Address, subject: str, now: datetime) -> Ticket:
    ids = writes.upsert_customers(session, {customer.key: (customer.name, now)})
    ticket = writes.add_ticket(
        session,
        now,
        customer_id=ids[customer.key],
        priority="normal",
        subject=subject[:2000] or "(no subject)",
        **opened(now),
    )
    writes.add_participants(session, ticket.id, [customer.key], "customer")
    return ticket


def _add_forwarded(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    fwd: Forwarded,
    agent: AgentRow,
    now: datetime,
) -> None:
    """The original customer message, as the ticket's first (inbound) message."""
    mid = fwd.message_id
    if not mid or stored_messages(session, [mid]):
        mid = new_message_id(ctx.settings.outgoing_domain)
    session.add(
        Message(
            ticket_id=ticket.id,
            direction="inbound",
            kind="customer",
            message_id=mid,
            from_email=fwd.sender.key,
            from_name=fwd.sender.name,
            subject=fwd.subject,
            body_text=fwd.text,
            trimmed_text=trim_reply(fwd.text).text,
            customer_id=ticket.customer_id,
            thread_reason=f"forwarded by agent {agent.email}",
            created_at=now,
        )
    )
    session.flush()


def _first_words(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: AgentRow,
    msg: ParsedMessage,
    sender: SenderCheck,
    text: str,
    now: datetime,
) -> list[str]:
    """Send the agent's text (when the sender is verified) or keep it as a draft.

    The customer has never written to Echo: only a verified sender may make
    Echo write to them (:mod:`echodesk.mailbox.trust`)."""
    if not text:
        return []
    actor = session.get(Agent, agent.id)
    assert actor is not None
    if msg.from_ is not None and sender.verified:
        files = tuple(a for a in msg.attachments if not a.inline)
        posted = reply_on(session, ctx, ticket, actor, text, files, now=now)
        why = sender.summary.text()
        return [f"first message sent ({why}; {len(posted.outbox_ids)} recipient)"]
    note_on(
        session,
        ctx,
        ticket,
        actor,
        "Draft for the customer, not sent yet (new mail carries no signature). "
        "Reply to the notification of this ticket with the text to send it:\n\n" + text,
        now=now,
        kind="draft",
        tell_agents=False,
    )
    return ["draft kept as an internal note"]
