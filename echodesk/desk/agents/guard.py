"""The collision guard: a reply to an out-of-date notification waits for the agent to confirm.

Every notification's signature names the last customer-visible message it
showed (the customer's mail, or a reply to them). When an agent answers it
with text for the customer and the ticket has received a newer customer
message or a colleague's reply since, the text is not sent: it is held
(:mod:`echodesk.store.drafts`) and the agent gets the newer messages with
their held text quoted, signed anew, so that ``#send`` sends it as it was,
``#discard`` drops it, and an ordinary answer replaces it. Command lines
that would undo a colleague's newer change (``#assign`` after someone else
assigned the ticket; ``#resolve``, ``#close`` or ``#pending`` after the
customer wrote again) are held with it; the others apply at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.agents.plan import ReplyPlan
from echodesk.desk.commands.parse import CommandLine
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import Assign, SetStatus
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.desk.savedreplies import render, values_for
from echodesk.statuses import STATUSES, Status
from echodesk.store import drafts, messages, tickets
from echodesk.store.lookups import AgentRow
from echodesk.store.tickets import Ticket

#: Statuses that say "the customer is answered" and so undo the customer's newer message.
_SETTLING = frozenset(STATUSES) - {Status.OPEN.value}


@dataclass(frozen=True)
class Collision:
    """What the agent has not seen, in words, and the newest of it."""

    reason: str
    newest: int
    customer_wrote: bool
    colleague_assigned: bool


def collision(
    session: Session, ticket: Ticket, agent: AgentRow, seen: int | None
) -> Collision | None:
    """What happened on the ticket since the answered notification; None when nothing did
    (or the notification is from before signatures named what it showed)."""
    if seen is None:
        return None
    newer = messages.newer_visible(session, ticket.id, seen, agent.id)
    seen_at = (messages.created_at(session, seen) if seen else None) or ticket.created_at
    assigned = tickets.assigned_by_others_since(session, ticket.id, seen_at, agent.email)
    if not newer and not assigned:
        return None
    wrote = any(m.direction == "inbound" for m in newer)
    repliers = sorted({m.from_name or m.from_email for m in newer if m.direction == "outbound"})
    parts = (["the customer wrote again"] if wrote else []) + [f"{r} replied" for r in repliers]
    parts += ["someone else assigned the ticket"] if assigned else []
    newest = newer[-1].id if newer else seen
    return Collision(" and ".join(parts) + " since your notification", newest, wrote, assigned)


def contradicts(change: Change, found: Collision) -> bool:
    """Whether a command line would undo the newer change the agent has not seen."""
    for effect in change.effects:
        if isinstance(effect, Assign) and found.colleague_assigned:
            return True
        if isinstance(effect, SetStatus) and effect.status in _SETTLING and found.customer_wrote:
            return True
    return False


def split(
    planned: ReplyPlan, found: Collision, *, keep_text: bool
) -> tuple[ReplyPlan, tuple[CommandLine, ...]]:
    """The part that applies at once (no contradicting line; the text only if it stays
    internal) and the lines held."""
    held = tuple(line for line, change in planned.changes if contradicts(change, found))
    kept = tuple((line, c) for line, c in planned.changes if line not in held)
    if keep_text:
        return replace(planned, changes=kept), held
    return replace(planned, changes=kept, text="", files=(), saved=False), held


def guarded(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: Ticket,
    planned: ReplyPlan,
    seen: int | None,
    notifier: Notifier,
    now: datetime,
) -> tuple[ReplyPlan, list[str]]:
    """What of an agent's reply applies now, and what was done about the rest.

    ``#send`` and ``#discard`` are about the held draft and never held
    themselves; an ordinary reply to an up-to-date notification replaces a
    draft held before.
    """
    internal = planned.has("note") or planned.has("spam")
    if planned.has("send") or planned.has("discard"):
        return planned, []
    found = collision(session, ticket, agent, seen)
    if found is None:
        replaced = planned.text and not internal and drafts.drop(session, ticket.id, agent.id)
        return planned, ["the reply held before was replaced"] if replaced else []
    now_plan, lines = split(planned, found, keep_text=internal)
    text = "" if internal else planned.text
    if not text and not lines:
        return planned, []  # commands only, none undoing the newer change
    if planned.saved and text:
        text = render(text, values_for(session, ctx.settings, ticket, agent))
    hold(session, ctx, ticket, agent, text, lines, found, notifier, now)
    return now_plan, [f"held: {found.reason}"]


def hold(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: AgentRow,
    text: str,
    lines: tuple[CommandLine, ...],
    found: Collision,
    notifier: Notifier,
    now: datetime,
) -> None:
    """Keep the text and lines, and send the agent the newer messages with them quoted."""
    drafts.hold(session, ticket.id, agent.id, text, tuple(x.raw for x in lines), found.reason, now)
    quoted = "\n".join(f"> {line}" for line in [*(x.raw for x in lines), *text.split("\n")])
    detail = (
        f"{found.reason}. Your reply was not sent:\n\n{quoted}\n\n"
        "Answer #send to send it as it is, #discard to drop it, or write a new reply."
    )
    notifier.notify(ticket.id, Notice.HELD, found.newest, now=now, detail=detail, to_agent=agent.id)


__all__ = ["Collision", "collision", "contradicts", "guarded", "hold", "split"]
