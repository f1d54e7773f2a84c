"""An agent's command lines without the mail round trip: ``echodesk do``.

The lines an agent writes on top of a reply (``#assign bob``, ``#status
pending``) are checked by the same registry and the same rules
(:func:`~echodesk.desk.agents.plan.checked_plan`) and carried out by the same
code (:func:`~echodesk.desk.agents.mail.apply_plan`): all of them or none,
with the same audit rows and the same notifications to the other agents.
Only the way in differs: the operator names the agent and the ticket, and
the answer (errors, ``#help``) comes back to the caller instead of by mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.agents.mail import apply_plan
from echodesk.desk.agents.plan import ReplyPlan, checked_plan
from echodesk.desk.agents.resolvers import StoreResolver
from echodesk.desk.commands.parse import CommandLine, command_of
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.notify import Notifier
from echodesk.desk.tickets import sla
from echodesk.errors import EchoError
from echodesk.store import tickets
from echodesk.store.lookups import AgentRow, active_agents, internal_notes


class Refused(EchoError):
    """Nothing was done: every reason, one per line (as the error mail quotes them)."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass(frozen=True)
class Done:
    """What ``echodesk do`` did to one ticket."""

    ticket: str
    done: list[str]
    answers: list[str] = field(default_factory=list)


def _lines(lines: Sequence[str]) -> tuple[tuple[CommandLine, ...], list[str]]:
    """Each argument as a command line (the leading ``#`` optional); the ones that are not."""
    found, bad = [], []
    for raw in lines:
        text = raw.strip()
        line = command_of(text if text.startswith("#") else f"#{text}")
        if line is None:
            bad.append(f"{raw!r} is not a command line (#help lists them)")
        else:
            found.append(line)
    return tuple(found), bad


def act(
    session: Session,
    ctx: DeskContext,
    label: str,
    agent_address: str,
    lines: Sequence[str],
    text: str,
    now: datetime,
) -> Done:
    """Check every line and the text as a reply from ``agent_address`` to ticket ``label``
    would be checked, then apply all of it; :class:`Refused` (nothing done) on any error."""
    agents = active_agents(session)
    agent = agents.get(agent_address.strip().lower())
    if agent is None:
        raise Refused([f"{agent_address} is not an active agent (echodesk agents list)"])
    number = ctx.settings.parse_ticket_label(label)
    found = tickets.by_number(session, number) if number is not None else None
    ticket = tickets.live(session, found.id) if found is not None else None
    if ticket is None:
        raise Refused([f"no ticket {label}"])
    commands, bad = _lines(lines)
    notes = internal_notes(session, [ticket.id]).get(ticket.id, [])
    resolver = StoreResolver(session, ctx, agents, agent, ticket.id, now)
    planned = checked_plan(commands, text.strip(), (), resolver, notes)
    reasons = bad + [_reason(line, why) for line, why in planned.errors]
    if reasons:
        raise Refused(reasons)
    return _apply(session, ctx, agent, ticket, planned, now)


def _reason(line: CommandLine | None, why: str) -> str:
    return f"{line.raw}: {why}" if line is not None else why


def _apply(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    ticket: tickets.Ticket,
    planned: ReplyPlan,
    now: datetime,
) -> Done:
    notifier = Notifier(session, ctx)
    answers: list[str] = []
    with session.begin_nested():  # all of it, or (on an expected error) none of it
        done = apply_plan(session, ctx, agent, ticket, planned, notifier, now, answers.append)
    live = tickets.live(session, ticket.id) or ticket
    sla.reconcile(session, ctx.settings, {ticket.id, live.id}, now)
    notifier.flush(now)
    return Done(ctx.settings.ticket_label(live.number), done, answers)


__all__ = ["Done", "Refused", "act"]
