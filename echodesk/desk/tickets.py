"""Applying validated changes to a ticket: assignment, status, tags, priority, CC, merge.

Changes come from agents' email commands (and later from rules) as data
(:class:`~echodesk.desk.commands.registry.Change`); this module is the one
place that carries them out, each with an audit row naming the agent, inside
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.desk.notify import Event, Notifier
from echodesk.desk.status import Event as StatusEvent
from echodesk.desk.status import move, set_to
from echodesk.store import writes
from echodesk.store.lookups import AgentRow
from echodesk.store.models import Customer, Ticket, TicketParticipant, TicketTag


def apply_changes(
    session: Session,
    ctx: DeskContext,
    ticket: Ticket,
    agent: AgentRow,
    changes: Sequence[Change],
    notifier: Notifier,
    now: datetime,
) -> list[str]:
    """Carry out each change on the ticket; their summaries, in order."""
    done: list[str] = []
    for change in changes:
        payload: dict[str, Any] = {"change": change.summary}
        if change.kind == "assign":
            payload["from"], payload["to"] = ticket.assignee_id, change.agent_id
            ticket.assignee_id = change.agent_id
        elif change.kind == "status":
            payload["from"], payload["to"] = set_to(ticket, change.value, now), change.value
        elif change.kind == "priority":
            payload["from"], payload["to"] = ticket.priority, change.value
            ticket.priority = change.value
        elif change.kind in ("tag", "spam"):
            tags = change.values or ("spam",)
            rows = [{"ticket_id": ticket.id, "tag": t} for t in tags]
            writes.insert_ignore(session, TicketTag, rows, ["ticket_id", "tag"])
            if change.kind == "spam":
                move(ticket, StatusEvent.SET_CLOSED, now)
        elif change.kind == "untag":
            session.execute(
                delete(TicketTag).where(
                    TicketTag.ticket_id == ticket.id, TicketTag.tag.in_(list(change.values))
                )
            )
        elif change.kind == "cc":
            rows = [{"ticket_id": ticket.id, "email": e, "role": "cc"} for e in change.values]
            writes.insert_ignore(session, TicketParticipant, rows, ["ticket_id", "email"])
        else:  # pragma: no cover - the registry only makes the kinds above
            raise ValueError(f"unknown change {change.kind}")
        ticket.updated_at = now
        audit.record(session, agent.email, f"commands.{change.kind}", ticket, payload, now)
        done.append(change.summary)
        if change.kind == "assign" and change.agent_id is not None:
            session.flush()
            notifier.notify(
                ticket.id,
                Event.ASSIGNED,
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
    target = session.get(Ticket, target_id)
    assert target is not None
    session.flush()
    moved = writes.move_messages(session, source.id, target.id)
    if source.customer_id is not None and source.customer_id != target.customer_id:
        customer = session.get(Customer, source.customer_id)
        if customer is not None:
            writes.insert_ignore(
                session,
                TicketParticipant,
                [{"ticket_id": target.id, "email": customer.email, "role": "customer"}],
                ["ticket_id", "email"],
            )
    source.merged_into_id = target.id
    move(source, StatusEvent.MERGED, now)
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
