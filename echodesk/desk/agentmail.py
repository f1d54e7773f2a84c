"""Agents' replies by email: verified, then their commands applied all together or not at all.

A message is an agent's only if (1) its From (or an alias) is an active agent,
(2) it carries a signature Echo made for that agent (the notification's
Reply-To address, or its Message-ID in In-Reply-To/References), and (3) no
Authentication-Results header says its From domain failed DKIM, SPF or DMARC.
Anything else that looks like an agent's reply is recorded and not executed;
the agent's registered address is told why (a few times a day at most, so a
forger cannot flood them).

A verified reply's leading command lines are all validated before any is
applied; one bad line and nothing changes, nothing reaches the customer, and
the agent gets a report quoting each failing line. Otherwise the commands
are applied, and the rest of the reply, cut at the notification's marker line
and trimmed of quoted history and signature, goes to the customer (or stays
internal with ``#note``). The caller's transaction holds it all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.desk.batch import Item
from echodesk.desk.commands import registry
from echodesk.desk.commands.parse import CommandLine, find_commands
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.desk.notify import MARKER, Event, Notifier
from echodesk.desk.replies import note_on, reply_on
from echodesk.desk.tickets import apply_changes, merge_into
from echodesk.mailbox.authresults import failures
from echodesk.mailbox.compose import OutgoingMail, compose, new_message_id
from echodesk.mailbox.message import Address, AttachmentPart, ParsedMessage
from echodesk.mailbox.trim import trim_reply
from echodesk.store import outbox
from echodesk.store.lookups import AgentRow, active_agents, recent_outbox_counts
from echodesk.store.models import Agent, AuditLog, Message, Ticket
from echodesk.store.outbox import NewMail

log = logging.getLogger(__name__)
NOTICE = "agent-notice"
NOTICES_PER_DAY = 20
_MARKER_CORE = "Reply above this line"


@dataclass
class Handled:
    """What became of one agent message (for the spool row and the audit log)."""

    kind: str
    reason: str
    ticket_id: int | None = None
    ticket_number: int | None = None
    changes: list[str] = field(default_factory=list)


# -- who wrote it ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    agent: AgentRow | None  # the agent who may act, when verified
    ticket_id: int | None
    reason: str  # why it was not verified ("" when it was)
    tell: AgentRow | None  # whom to tell when it was not


def verify(
    msg: ParsedMessage,
    signed: tuple[tuple[int, int], ...],
    agents: dict[str, AgentRow],
    trusted: tuple[str, ...],
) -> Verdict:
    """Decide whether a message is the verified reply of an agent, and about which ticket."""
    sender = msg.from_.key if msg.from_ else ""
    agent = agents.get(sender)
    by_id = {a.id: a for a in agents.values()}
    signer = next((by_id[a] for _, a in signed if a in by_id), None)
    tell = agent or signer
    failed = failures(
        msg.headers.get("authentication-results", ()), sender.rpartition("@")[2], trusted
    )
    if failed:
        return Verdict(None, None, f"the sender's domain failed {', '.join(failed)}", tell)
    if agent is None:
        return Verdict(None, None, "the sender is not an active agent", signer)
    mine = [t for t, a in signed if a == agent.id]
    if mine:
        return Verdict(agent, mine[0], "", None)
    if signed:
        return Verdict(None, None, "it answers a notification sent to another agent", agent)
    return Verdict(
        None, None, "it carries no signature: reply to one of Echo's notifications", agent
    )


# -- what it says ------------------------------------------------------------------


def customer_text(body: str) -> str:
    """The part of an agent's reply meant for the customer.

    Cut at the notification's marker line (quoted or not: whatever follows is the
    notification itself), then at quoted history and signature. A reply with
    nothing of its own left gives "" (never the quoted history).
    """
    lines = body.split("\n")
    cut = next((i for i, line in enumerate(lines) if _MARKER_CORE in line), len(lines))
    text = "\n".join(lines[:cut])
    return trim_reply(text, keep_if_empty=False).text


def _leaks_note(session: Session, ticket_id: int, text: str) -> bool:
    """Whether the text repeats an internal note's line (a quote that slipped through)."""
    notes = session.scalars(
        select(Message.body_text).where(
            Message.ticket_id == ticket_id, Message.direction == "internal"
        )
    )
    flat = " ".join(text.split())
    for note in notes:
        for line in note.split("\n"):
            words = " ".join(line.split())
            if len(words) >= 20 and words in flat:
                return True
    return False


class DbResolver:
    """Lookups for validating commands, against the database."""

    def __init__(self, session: Session, ctx: DeskContext, agent: AgentRow, ticket: Ticket):
        self.session = session
        self.ctx = ctx
        self.acting_agent_id = agent.id
        self.ticket_id = ticket.id
        self._agents = active_agents(session)

    def agent(self, name: str) -> tuple[int, str] | None:
        key = name.strip().lower()
        found = self._agents.get(key)
        if found is None:
            matches = {
                a.id: a
                for a in self._agents.values()
                if a.email.partition("@")[0] == key
                or a.name.lower() == key
                or a.name.lower().split(" ")[0] == key
            }
            found = next(iter(matches.values())) if len(matches) == 1 else None
        return (found.id, found.email) if found else None

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        number = self.ctx.settings.parse_ticket_label(label)
        if number is None:
            return None
        row = self.session.execute(
            select(Ticket.id, Ticket.number, Ticket.merged_into_id).where(Ticket.number == number)
        ).first()
        return (row[0], row[1], row[2] is not None) if row else None

    def label(self, number: int) -> str:
        return self.ctx.settings.ticket_label(number)


@dataclass
class Plan:
    changes: list[tuple[CommandLine, Change]]
    errors: list[tuple[CommandLine | None, str]]
    text: str
    files: tuple[AttachmentPart, ...]

    def has(self, kind: str) -> bool:
        return any(c.kind == kind for _, c in self.changes)


def plan(
    session: Session, ctx: DeskContext, agent: AgentRow, ticket: Ticket, msg: ParsedMessage
) -> Plan:
    """Validate every command line and what is left for the customer; apply nothing."""
    found = find_commands(msg.text)
    resolver = DbResolver(session, ctx, agent, ticket)
    changes: list[tuple[CommandLine, Change]] = []
    errors: list[tuple[CommandLine | None, str]] = []
    for line in found.commands:
        outcome = registry.check(line, resolver)
        if isinstance(outcome, str):
            errors.append((line, outcome))
        else:
            changes.append((line, outcome))
    text = customer_text(found.body)
    files = tuple(a for a in msg.attachments if not a.inline)
    result = Plan(changes, errors, text, files)
    quiet = result.has("note") or result.has("spam")
    if not errors and not text and files and not quiet:
        errors.append(
            (
                None,
                "the reply has an attachment but no text for the customer: write a few "
                "words with it, or add #note to keep it internal",
            )
        )
    if not errors and text and not quiet and _leaks_note(session, ticket.id, text):
        errors.append(
            (
                None,
                "the text for the customer repeats an internal note (quoted history?): "
                "nothing was sent; remove the quote and reply again",
            )
        )
    if not errors and not changes and not text and not files:
        errors.append((None, "the reply is empty: no command and no text for the customer"))
    return result


# -- doing it ----------------------------------------------------------------------


def handle(
    session: Session, ctx: DeskContext, item: Item, notifier: Notifier, now: datetime
) -> Handled:
    """Verify one agent-looking message and carry it out (or explain why not)."""
    msg = item.msg
    agents = active_agents(session)
    verdict = verify(msg, item.signed, agents, ctx.settings.trusted_authserv_ids)
    if verdict.agent is None or verdict.ticket_id is None:
        _audit(
            session,
            msg.from_.key if msg.from_ else "unknown",
            "mail.agent.rejected",
            None,
            {"reason": verdict.reason},
            now,
        )
        if verdict.tell is not None:
            _tell(session, ctx, verdict.tell, msg, _rejected_text(msg, verdict.reason), now)
        return Handled("agent-rejected", f"not executed: {verdict.reason}")
    ticket = _live(session, verdict.ticket_id)
    if ticket is None:
        return Handled("agent-rejected", "not executed: the ticket no longer exists")
    agent = verdict.agent
    planned = plan(session, ctx, agent, ticket, msg)
    label = ctx.settings.ticket_label(ticket.number)
    if planned.errors:
        _tell(session, ctx, agent, msg, _error_text(label, planned), now)
        _audit(
            session,
            agent.email,
            "commands.rejected",
            ticket,
            {"errors": [why for _, why in planned.errors]},
            now,
        )
        return Handled(
            "agent",
            "commands rejected: " + "; ".join(w for _, w in planned.errors),
            ticket.id,
            ticket.number,
        )
    done = _carry_out(session, ctx, agent, ticket, msg, planned, notifier, now)
    live = _live(session, ticket.id) or ticket
    return Handled(
        "agent", f"agent reply: {', '.join(done) or 'nothing to do'}", live.id, live.number, done
    )


def _carry_out(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: Ticket,
    msg: ParsedMessage,
    planned: Plan,
    notifier: Notifier,
    now: datetime,
) -> list[str]:
    """Apply a valid plan: the reply or note first, then the commands."""
    actor = session.get(Agent, agent.id)
    assert actor is not None
    done: list[str] = []
    if planned.has("note"):
        if planned.text or planned.files:
            note_on(
                session, ctx, ticket, actor, planned.text or "(attachments)", planned.files, now=now
            )
            done.append("internal note added")
    elif planned.text and not planned.has("spam"):
        posted = reply_on(session, ctx, ticket, actor, planned.text, planned.files, now=now)
        done.append(f"reply queued to {len(posted.outbox_ids)} recipient(s)")
    changes = [c for _, c in planned.changes if c.kind not in ("note", "help", "merge")]
    done += apply_changes(session, ctx, ticket, agent, changes, notifier, now)
    for _, change in planned.changes:
        if change.kind == "merge" and change.ticket_id is not None:
            done.append(merge_into(session, ctx, ticket, change.ticket_id, agent, now))
    if planned.has("help"):
        _tell(session, ctx, agent, msg, registry.help_text(), now)
        done.append("help sent")
    return done


def _live(session: Session, ticket_id: int) -> Ticket | None:
    ticket = session.get(Ticket, ticket_id)
    seen: set[int] = set()
    while ticket is not None and ticket.merged_into_id and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


# -- answers to the agent -----------------------------------------------------------


def _error_text(label: str, planned: Plan) -> str:
    lines = [
        f"Echo did not apply your reply to {label}: nothing was changed and nothing was "
        "sent to the customer.",
        "",
    ]
    for line, why in planned.errors:
        lines += [f"  {line.raw}" if line else "  (your reply)", f"    -> {why}"]
    if planned.changes:
        lines += ["", "These lines were fine and would have been applied:"]
        lines += [f"  {line.raw}  ({change.summary})" for line, change in planned.changes]
    lines += ["", "Fix the lines and reply to the notification again. #help lists the commands."]
    return "\n".join(lines)


def _rejected_text(msg: ParsedMessage, reason: str) -> str:
    sender = msg.from_.key if msg.from_ else "an unknown sender"
    return (
        f"Echo received a message from {sender} (subject: {msg.subject[:200]!r}) that looks "
        f"like an agent's reply, and did not act on it: {reason}.\n\n"
        "Nothing was changed and nothing was sent to the customer. If you wrote it, reply "
        "from your registered address to the notification Echo sent you."
    )


def _tell(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    msg: ParsedMessage,
    text: str,
    now: datetime,
) -> None:
    """Mail an agent's registered address (a few times a day at most)."""
    since = now - timedelta(hours=24)
    recent = recent_outbox_counts(session, [agent.email], NOTICE, since).get(agent.email, 0)
    if recent >= NOTICES_PER_DAY:
        log.warning("not telling %s again today (%s notices)", agent.email, recent)
        return
    settings = ctx.settings
    subject = msg.subject if msg.subject.lower().startswith("re:") else f"Re: {msg.subject}"
    mail = OutgoingMail(
        from_=Address(settings.support_name, settings.support_address),
        to=(Address(agent.name, agent.email),),
        subject=subject,
        text=text,
        message_id=new_message_id(settings.outgoing_domain),
        date=now,
        in_reply_to=msg.message_id if not msg.message_id_generated else "",
        references=tuple(i for i in (*msg.references[-5:], msg.message_id) if i),
        auto_submitted="auto-replied",
        loop_marker=settings.outgoing_domain,
    )
    row = NewMail(rcpt=agent.email, raw=compose(mail), message_id=mail.message_id, purpose=NOTICE)
    outbox.queue(session, [row], ctx.blobs, settings.spool_inline_limit)


def _audit(
    session: Session,
    actor: str,
    action: str,
    ticket: Ticket | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        AuditLog(
            at=now,
            actor=actor,
            action=action,
            target_type="ticket" if ticket else "mail",
            target_id=str(ticket.number) if ticket else "",
            ticket_id=ticket.id if ticket else None,
            payload=payload,
        )
    )


__all__ = ["MARKER", "Event", "Handled", "customer_text", "handle", "verify"]
