"""Carrying out an agent's validated commands: their effects, audited, and merges.

An agent's command lines arrive as data
(:class:`~echodesk.desk.commands.registry.Change`); their effects go through
the one applier (:mod:`echodesk.desk.tickets.apply`), and each line leaves an
audit row naming the agent, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import Assign, Merge, Notify
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.desk.tickets.apply import apply_effect
from echodesk.desk.tickets.status import Event, move
from echodesk.store import customers, tickets, writes
from echodesk.store.lookups import AgentRow
from echodesk.store.tickets import Ticket


def apply_changes(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: AgentRow,
    changes: Sequence[Change],
    notifier: Notifier,
    now: datetime,
) -> list[str]:
    """Carry out each change's effects, with one audit row per change; their summaries.

    A change of one field says what it was before and after; a new assignee
    is told (after the flush, so the notification sees the assignment).
    """
    done: list[str] = []
    for change in changes:
        applied = [
            (effect, apply_effect(session, ticket, effect, now))
            for effect in change.effects
            if not isinstance(effect, Merge | Notify)
        ]
        payload: dict[str, Any] = {"change": change.summary}
        if len(applied) == 1:
            payload.update(applied[0][1].payload())
        audit.record(session, agent.email, f"commands.{change.kind}", ticket, payload, now)
        done.append(change.summary)
        if any(isinstance(e, Assign) and e.agent_id is not None for e, _ in applied):
            session.flush()
            notifier.notify(
                ticket.id,
                Notice.ASSIGNED,
                None,
                now=now,
                actor=agent.id,
                detail=f"assigned by {agent.name or agent.email}",
            )
    return done


def merge_into(
    session: Session,
    ctx: DeskContext,
    source: Ticket,
    target_id: int,
    agent: AgentRow,
    now: datetime,
) -> str:
    """Merge ``source`` into the target: its messages, tags and participants move there.

    The merged ticket is closed and points at the target, so every later
    reply to either conversation (by header, subject tag or reply address)
    lands in the target. The merged ticket's customer stays a participant of
    the target (role ``customer``: they may write to it, they are not CC'd).
    """
    target = tickets.get(session, target_id)
    assert target is not None
    session.flush()
    moved = writes.move_messages(session, source.id, target.id)
    if source.customer_id is not None and source.customer_id != target.customer_id:
        customer = customers.get(session, source.customer_id)
        if customer is not None:
            writes.add_participants(session, target.id, [customer.email], "customer")
    source.merged_into_id = target.id
    move(source, Event.MERGED, now)
    source.updated_at = target.updated_at = now
    label = ctx.settings.ticket_label(target.number)
    audit.record(
        session,
        agent.email,
        "tickets.merge",
        source,
        {"into": target.number, "messages": moved, "by": agent.email},
        now,
    )
    return f"merged into {label} ({moved} message(s) moved)"
