"""Carrying out what an agent's mail was decided to ask for, all of it or none of it.

:mod:`echodesk.desk.agents.decide` decided, from the batch index alone, whether
the mail is a verified agent's and what its lines ask. Here it happens: a
rejected message is recorded and its agent told why (a few times a day at
most, so a forger cannot flood them); a reply with one bad command line
changes nothing, reaches no customer, and the agent gets a report quoting
each failing line. Otherwise the reply (cut at the notification's marker and
trimmed) goes to the customer, or stays internal with ``#note``, and the
commands' effects are applied, inside a savepoint of the caller's
transaction so that an expected error undoes all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.agents.answers import error_text, rejected_text, tell
from echodesk.desk.agents.decide import AgentDecision, Commands, Opening, Rejected
from echodesk.desk.agents.guard import guarded
from echodesk.desk.agents.opening import open_by_agent
from echodesk.desk.agents.plan import Handled, ReplyPlan, checked_plan
from echodesk.desk.agents.replies import note_on, reply_on
from echodesk.desk.agents.resolvers import StoreResolver
from echodesk.desk.commands import registry
from echodesk.desk.commands.parse import command_of
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import Merge, SetStatus
from echodesk.desk.outbound.notify import MARKER, Notice, Notifier
from echodesk.desk.outbound.satisfaction import send_survey, with_survey
from echodesk.desk.savedreplies import render, values_for
from echodesk.desk.tickets.changes import apply_changes, merge_into
from echodesk.errors import CommandError, EchoError
from echodesk.mailbox.message import ParsedMessage
from echodesk.statuses import Status
from echodesk.store import agents, drafts, tickets
from echodesk.store.agents import Agent
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.tickets import Ticket


def carry_out(
    session: Session,
    ctx: DeskContext,
    msg: ParsedMessage,
    decision: AgentDecision,
    ticket_id: int | None,
    notifier: Notifier,
    now: datetime,
) -> Handled:
    """Do what was decided for one agent-looking message (``ticket_id``: its ticket's id)."""
    if isinstance(decision, Opening):
        return open_by_agent(session, ctx, decision, msg, notifier, now)
    if isinstance(decision, Rejected):
        return _rejected(session, ctx, msg, decision, now)
    ticket = tickets.live(session, ticket_id) if ticket_id is not None else None
    if ticket is None:
        return Handled("agent-rejected", "not executed: the ticket no longer exists")
    return _commands(session, ctx, msg, decision, ticket, notifier, now)


def _commands(
    session: Session,
    ctx: DeskContext,
    msg: ParsedMessage,
    decision: Commands,
    ticket: Ticket,
    notifier: Notifier,
    now: datetime,
) -> Handled:
    """A verified reply: refused whole on any error, else applied whole or not at all."""
    agent, planned = decision.agent, decision.plan
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
            planned, held = guarded(
                session, ctx, agent, ticket, planned, decision.seen, notifier, now
            )
            done = held + apply_plan(
                session,
                ctx,
                agent,
                ticket,
                planned,
                notifier,
                now,
                lambda text: tell(session, ctx, agent, msg, text, now),
            )
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
    session: Session, ctx: DeskContext, msg: ParsedMessage, decision: Rejected, now: datetime
) -> Handled:
    """Record an agent-looking message that may not act, and tell the agent it names why."""
    if not decision.quiet:
        actor = msg.from_.key if msg.from_ else "unknown"
        payload = {"reason": decision.reason}
        audit.record(session, actor, "mail.agent.rejected", None, payload, now)
    if decision.tell is not None:
        tell(session, ctx, decision.tell, msg, rejected_text(msg, decision.reason), now)
    return Handled("agent-rejected", f"not executed: {decision.reason}")


def apply_plan(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: Ticket,
    planned: ReplyPlan,
    notifier: Notifier,
    now: datetime,
    answer: Callable[[str], None],
) -> list[str]:
    """Apply a valid plan: the reply or note first, then the commands; what was done.

    ``answer`` gives the agent what they asked to read (``#help``): by mail, or
    on the terminal of ``echodesk do``.
    """
    actor = agents.get(session, agent.id)
    assert actor is not None
    if planned.saved:
        planned = replace(
            planned, text=render(planned.text, values_for(session, ctx.settings, ticket, agent))
        )
    resolving = ticket.status != Status.RESOLVED and any(
        isinstance(e, SetStatus) and e.status == Status.RESOLVED
        for _, change in planned.changes
        for e in change.effects
    )
    done, replied = _post(session, ctx, ticket, actor, planned, notifier, now, resolving)
    changes = [c for _, c in planned.changes if c.kind not in ("note", "help", "merge")]
    done += apply_changes(session, ctx, ticket, agent, changes, notifier, now)
    resolved = resolving and not replied and ticket.status == Status.RESOLVED
    if resolved and send_survey(session, ctx, ticket, now):
        done.append("rating request sent to the customer")
    for _, change in planned.changes:
        for effect in change.effects:
            if isinstance(effect, Merge):
                done.append(merge_into(session, ctx, ticket, effect.into, agent, now))
    if planned.has("help"):
        answer(registry.help_text(ctx.replies.current().names))
        done.append("help sent")
    if planned.has("discard"):
        if not drafts.drop(session, ticket.id, agent.id):
            raise CommandError("none of your replies is held on this ticket")
        done.append("the held reply was dropped")
    if planned.has("send"):
        done += _send_held(session, ctx, agent, ticket, notifier, now, answer)
    return done


def _post(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    actor: Agent,
    planned: ReplyPlan,
    notifier: Notifier,
    now: datetime,
    resolving: bool,
) -> tuple[list[str], bool]:
    """The plan's note or reply to the customer (a resolving reply asks for a rating);
    what was done, and whether a reply went to the customer."""
    if planned.has("note"):
        if not (planned.text or planned.files):
            return [], False
        text = planned.text or "(attachments)"
        note_on(session, ctx, ticket, actor, text, planned.files, now=now, notifier=notifier)
        return ["internal note added"], False
    if not planned.text or planned.has("spam"):
        return [], False
    text = with_survey(ctx, ticket.id, planned.text) if resolving else planned.text
    posted = reply_on(session, ctx, ticket, actor, text, planned.files, now=now, notifier=notifier)
    return [f"reply queued to {len(posted.outbox_ids)} recipient(s)"], True


def _send_held(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: Ticket,
    notifier: Notifier,
    now: datetime,
    answer: Callable[[str], None],
) -> list[str]:
    """``#send``: the held draft, its lines checked again (things may have changed), applied."""
    held = drafts.take(session, ticket.id, agent.id)
    if held is None:
        raise CommandError("none of your replies is held on this ticket")
    lines = tuple(line for raw in held.lines if (line := command_of(raw)) is not None)
    resolver = StoreResolver(session, ctx, active_agents(session), agent, ticket.id, now)
    again = checked_plan(lines, held.text, (), resolver, [])
    if again.errors:
        reasons = "; ".join(why for _, why in again.errors)
        raise CommandError(f"the held reply cannot be sent now: {reasons}")
    return apply_plan(session, ctx, agent, ticket, again, notifier, now, answer)


__all__ = ["MARKER", "Handled", "Notice", "apply_plan", "carry_out"]
