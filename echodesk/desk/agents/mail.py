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

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.desk import audit
from echodesk.desk.agents.answers import error_text, rejected_text, tell
from echodesk.desk.agents.opening import open_by_agent, opens_ticket
from echodesk.desk.agents.plan import Handled, ReplyPlan, customer_text, plan
from echodesk.desk.agents.replies import note_on, reply_on
from echodesk.desk.batch import Item
from echodesk.desk.commands import registry
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import Merge
from echodesk.desk.outbound.notify import MARKER, Notice, Notifier
from echodesk.desk.tickets.changes import apply_changes, merge_into
from echodesk.errors import EchoError
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.trust import SenderCheck, agent_refusal, check_sender, failures
from echodesk.store import tickets
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.models import Agent, Ticket

# -- who wrote it ------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    agent: AgentRow | None  # the agent who may act, when verified
    ticket_id: int | None
    reason: str  # why it was not verified ("" when it was)
    tell: AgentRow | None  # whom to tell when it was not
    #: From an active agent, unsigned, and not failing authentication: new mail
    #: (``#new`` / ``#forward``) rather than a reply.
    unsigned: bool = False


def verify(
    msg: ParsedMessage,
    signed: tuple[tuple[int, int], ...],
    agents: dict[str, AgentRow],
    sender: SenderCheck,
    settings: Settings,
) -> Verification:
    """Decide whether a message is the verified reply of an agent, and about which ticket.

    Who sent it is :mod:`echodesk.mailbox.trust`'s question: a failure refuses
    everything; a signed reply also needs the sender verified (``agent_auth``).
    """
    key = msg.from_.key if msg.from_ else ""
    agent = agents.get(key)
    by_id = {a.id: a for a in agents.values()}
    signer = next((by_id[a] for _, a in signed if a in by_id), None)
    tell = agent or signer
    failed = failures(sender)
    if failed:
        return Verification(None, None, f"the sender's domain failed {', '.join(failed)}", tell)
    if agent is None:
        return Verification(None, None, "the sender is not an active agent", signer)
    mine = [t for t, a in signed if a == agent.id]
    if mine:
        refusal = agent_refusal(sender, settings)
        if refusal:
            return Verification(None, None, refusal, agent)
        return Verification(agent, mine[0], "", None)
    if signed:
        return Verification(None, None, "it answers a notification sent to another agent", agent)
    return Verification(
        None,
        None,
        "it carries no signature: reply to one of Echo's notifications "
        "(or start a new message with #new or #forward)",
        agent,
        unsigned=True,
    )


# -- doing it ----------------------------------------------------------------------


def handle(
    session: Session, ctx: DeskContext, item: Item, notifier: Notifier, now: datetime
) -> Handled:
    """Verify one agent-looking message and carry it out (or explain why not)."""
    msg = item.msg
    agents = active_agents(session)
    sender = item.sender or check_sender(msg, ctx.settings)
    verdict = verify(msg, item.signed, agents, sender, ctx.settings)
    if verdict.unsigned and verdict.tell is not None and opens_ticket(msg):
        return open_by_agent(session, ctx, verdict.tell, msg, sender, notifier, now)
    if verdict.agent is None or verdict.ticket_id is None:
        return _rejected(session, ctx, msg, verdict, now)
    ticket = tickets.live(session, verdict.ticket_id)
    if ticket is None:
        return Handled("agent-rejected", "not executed: the ticket no longer exists")
    agent = verdict.agent
    planned = plan(session, ctx, agent, ticket, msg)
    label = ctx.settings.ticket_label(ticket.number)
    if planned.errors:
        tell(session, ctx, agent, msg, error_text(label, planned), now)
        errors = [why for _, why in planned.errors]
        audit.record(session, agent.email, "commands.rejected", ticket, {"errors": errors}, now)
        reason = "commands rejected: " + "; ".join(errors)
        return Handled("agent", reason, ticket.id, ticket.number)
    mark = notifier.mark()
    try:
        with session.begin_nested():  # all of it, or (on an expected error) none of it
            done = _carry_out(session, ctx, agent, ticket, msg, planned, notifier, now)
    except EchoError as exc:
        session.expire_all()
        notifier.discard_since(mark)
        text = (
            f"Echo could not apply your reply to {label}: {exc}.\n\n"
            "Nothing was changed and nothing was sent to the customer."
        )
        tell(session, ctx, agent, msg, text, now)
        return Handled("agent", f"not applied: {exc}", ticket.id, ticket.number)
    live = tickets.live(session, ticket.id) or ticket
    return Handled(
        "agent", f"agent reply: {', '.join(done) or 'nothing to do'}", live.id, live.number, done
    )


def _rejected(
    session: Session, ctx: DeskContext, msg: ParsedMessage, verdict: Verification, now: datetime
) -> Handled:
    """Record an agent-looking message that may not act, and tell the agent it names why."""
    actor = msg.from_.key if msg.from_ else "unknown"
    audit.record(session, actor, "mail.agent.rejected", None, {"reason": verdict.reason}, now)
    if verdict.tell is not None:
        tell(session, ctx, verdict.tell, msg, rejected_text(msg, verdict.reason), now)
    return Handled("agent-rejected", f"not executed: {verdict.reason}")


def _carry_out(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: Ticket,
    msg: ParsedMessage,
    planned: ReplyPlan,
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
                session,
                ctx,
                ticket,
                actor,
                planned.text or "(attachments)",
                planned.files,
                now=now,
                notifier=notifier,
            )
            done.append("internal note added")
    elif planned.text and not planned.has("spam"):
        posted = reply_on(session, ctx, ticket, actor, planned.text, planned.files, now=now)
        done.append(f"reply queued to {len(posted.outbox_ids)} recipient(s)")
    changes = [c for _, c in planned.changes if c.kind not in ("note", "help", "merge")]
    done += apply_changes(session, ctx, ticket, agent, changes, notifier, now)
    for _, change in planned.changes:
        for effect in change.effects:
            if isinstance(effect, Merge):
                done.append(merge_into(session, ctx, ticket, effect.into, agent, now))
    if planned.has("help"):
        tell(session, ctx, agent, msg, registry.help_text(), now)
        done.append("help sent")
    return done


__all__ = ["MARKER", "Handled", "Notice", "customer_text", "handle", "verify"]
