"""The one applier of ticket effects: every command and rule action changes a ticket here.

An agent's ``#assign``/``#status``/``#tag``/``#priority``/``#cc``, a
routing rule's ``assign``/``status``/``tag``/``priority`` and ``#spam`` are
all :mod:`~echodesk.desk.effects` carried out by :func:`apply_effect`, inside
the caller's transaction: the status through the transition table, lists
through the store's set-at-a-time writes. The callers write the audit row,
because who acted (an agent, a rule) and how they said it differ; what
changed (:class:`Applied`) is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from echodesk.desk.effects import (
    AddParticipant,
    Assign,
    Follow,
    Remind,
    SetPriority,
    SetStatus,
    Snooze,
    Tag,
    TicketEffect,
    Untag,
)
from echodesk.desk.tickets.status import opened, set_to
from echodesk.store import reminders, tickets, writes
from echodesk.store.tickets import Ticket


def new_ticket(
    subject: str,
    created_at: datetime | None,
    *,
    customer_id: int | None = None,
    priority: str = "normal",
    followup_of: int | None = None,
) -> dict[str, Any]:
    """The columns of a ticket about to be opened (every ticket starts the same way)."""
    return {
        "customer_id": customer_id,
        **opened(created_at),
        "priority": priority,
        "subject": subject[:2000],
        "created_at": created_at,
        "updated_at": created_at,
        "followup_of_id": followup_of,
    }


def open_ticket(session: Session, row: dict[str, Any]) -> Ticket:
    """Open one ticket (see :func:`new_ticket`) and load it for the changes that follow."""
    ((ticket_id, _),) = writes.open_tickets(session, [row])
    ticket = tickets.get(session, ticket_id)
    assert ticket is not None  # inserted just now, in this transaction
    return ticket


@dataclass(frozen=True)
class Applied:
    """What one effect did: a field's value before and after, or nothing to show."""

    field: str = ""
    before: Any = None
    after: Any = None

    def payload(self) -> dict[str, Any]:
        """The audit row's ``from``/``to`` for a field change; empty for a list change."""
        return {"from": self.before, "to": self.after} if self.field else {}


def apply_effect(session: Session, ticket: Ticket, effect: TicketEffect, now: datetime) -> Applied:
    """Carry out one effect on a loaded ticket and mark it updated."""
    ticket.updated_at = now
    match effect:
        case SetStatus(status):
            return Applied("status", set_to(ticket, status, now), ticket.status)
        case Assign(agent_id):
            assignee, ticket.assignee_id = ticket.assignee_id, agent_id
            return Applied("assignee", assignee, agent_id)
        case SetPriority(priority):
            level, ticket.priority = ticket.priority, priority
            return Applied("priority", level, priority)
        case Tag(tags):
            writes.add_tags(session, ticket.id, tags)
        case Untag(tags):
            writes.remove_tags(session, ticket.id, tags)
        case AddParticipant(emails, role):
            writes.add_participants(session, ticket.id, emails, role)
        case Follow(agent_id, following):
            writes.set_following(session, ticket.id, agent_id, following)
        case Snooze(until):
            before, ticket.snoozed_until = ticket.snoozed_until, until
            return Applied("snoozed_until", _iso(before), _iso(until))
        case Remind(agent_id, at, text):
            reminders.add(session, ticket.id, agent_id, at, text, now)
            return Applied("remind_at", None, _iso(at))
    return Applied()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
