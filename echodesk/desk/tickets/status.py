"""Ticket status as an explicit transition table, and the one place that sets it.

Every (status, event) pair that is allowed is listed; anything else is
refused. A customer writing to a closed ticket is the one case that depends
on a setting (reopen it, or open a follow-up ticket).

Every write of a ticket's status goes through this module, whatever shape
the ticket has there: a loaded row (:func:`move`), the batch's planned
ticket (:func:`plan_customer_reply`, :func:`plan_merge`), a new row
(:data:`INITIAL`, :func:`opened`) or the auto-close job's conditional update
(:func:`autoclosed`). So the table is consulted every time, and the moments
a status implies (``status_changed_at``, ``closed_at``) are never forgotten
by one path and kept by another. ``tests/test_architecture.py`` holds every
other module to that.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from echodesk.statuses import UNRESOLVED
from echodesk.statuses import Status as Status
from echodesk.store.tickets import Ticket

#: The columns a status write sets, by name: a batch's changes, a bulk update's values.
Changes = dict[str, Any]


class Event(StrEnum):
    CUSTOMER_REPLY = "customer_reply"
    AGENT_REPLY = "agent_reply"
    SET_OPEN = "set_open"
    SET_PENDING = "set_pending"
    SET_RESOLVED = "set_resolved"
    SET_CLOSED = "set_closed"
    #: The ticket was merged into another: whatever it was, it is closed.
    MERGED = "merged"
    #: The auto-close job found it pending too long; other statuses it leaves alone.
    AUTOCLOSE = "autoclose"


FOLLOWUP = "followup"
#: The status every ticket starts in, however it was opened.
INITIAL = Status.OPEN.value

_SET = {
    Event.SET_OPEN: Status.OPEN,
    Event.SET_PENDING: Status.PENDING,
    Event.SET_RESOLVED: Status.RESOLVED,
    Event.SET_CLOSED: Status.CLOSED,
}
#: The event that sets each status outright (an agent's ``#close``, a rule's ``status:``).
SETS = {target.value: event for event, target in _SET.items()}

TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.OPEN, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.PENDING, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.RESOLVED, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.OPEN, Event.AGENT_REPLY): Status.PENDING,
    (Status.PENDING, Event.AGENT_REPLY): Status.PENDING,
    (Status.RESOLVED, Event.AGENT_REPLY): Status.RESOLVED,
    (Status.CLOSED, Event.AGENT_REPLY): Status.CLOSED,
    **{(state, event): target for state in Status for event, target in _SET.items()},
    **{(state, Event.MERGED): Status.CLOSED for state in Status},
    **{
        (state, Event.AUTOCLOSE): Status.CLOSED if state is Status.PENDING else state
        for state in Status
    },
}

#: The status auto-close takes tickets from: the one the table's AUTOCLOSE moves.
(AUTOCLOSE_FROM,) = [s for s in Status if TRANSITIONS[(s, Event.AUTOCLOSE)] is not s]


def after_customer_reply(current: str, closed_reply: str) -> str:
    """The ticket's new status, or ``FOLLOWUP`` when a new linked ticket must open."""
    status = Status(current)
    if status is Status.CLOSED:
        return Status.OPEN.value if closed_reply == "reopen" else FOLLOWUP
    return TRANSITIONS[(status, Event.CUSTOMER_REPLY)].value


def after_agent_reply(current: str, setting: str) -> str:
    """An agent's reply moves an open ticket on; resolved and closed ones stay put.

    ``setting`` (``status_after_reply``) names where an open or pending ticket
    goes; "pending" is the table's own answer to an agent's reply.
    """
    if setting == Status.PENDING or current not in UNRESOLVED:
        return transition(current, Event.AGENT_REPLY)
    return transition(current, SETS[setting])


def transition(current: str, event: Event) -> str:
    """The status after ``event``; KeyError for a pair the table does not allow."""
    return TRANSITIONS[(Status(current), event)].value


def stamped(status: str, now: datetime) -> Changes:
    """A status with the moments it implies: when it changed and, once closed, when."""
    return {
        "status": status,
        "status_changed_at": now,
        "closed_at": now if status == Status.CLOSED else None,
    }


def opened(now: datetime | None) -> Changes:
    """A new ticket's status columns: every ticket starts open, from its first mail's time."""
    return {"status": INITIAL, "status_changed_at": now}


def move(ticket: Ticket, event: Event, now: datetime) -> str:
    """Move a loaded ticket through the table; its status before (for the audit row)."""
    return _settle(ticket, transition(ticket.status, event), now)


def set_to(ticket: Ticket, status: str, now: datetime) -> str:
    """Set the status an agent or a rule named; the status before."""
    return move(ticket, SETS[status], now)


def agent_replied(ticket: Ticket, setting: str, now: datetime) -> str:
    """Move the ticket on after an agent's reply (:func:`after_agent_reply`); the status before."""
    return _settle(ticket, after_agent_reply(ticket.status, setting), now)


def _settle(ticket: Ticket, after: str, now: datetime) -> str:
    before = ticket.status
    if after != before:
        changes = stamped(after, now)
        ticket.status = changes["status"]
        ticket.status_changed_at = changes["status_changed_at"]
        ticket.closed_at = changes["closed_at"]
    return before


class Planned(Protocol):
    """A ticket as the batch plans it (:class:`~echodesk.desk.batch.TicketState`)."""

    status: str
    changes: dict[str, Any]


def plan_customer_reply(ticket: Planned, closed_reply: str, now: datetime) -> str:
    """Plan the ticket's status after a customer's mail; the new status, or ``FOLLOWUP``.

    A follow-up leaves the closed ticket as it is (a new ticket opens instead).
    """
    after = after_customer_reply(ticket.status, closed_reply)
    if after not in (FOLLOWUP, ticket.status):
        ticket.status = after
        ticket.changes.update(stamped(after, now))
    return after


def plan_merge(ticket: Planned, now: datetime) -> None:
    """Plan the close of a ticket merged away by the batch.

    Its status moments are stamped even when it was closed already: the merge
    is the moment the conversation moved on, and the batch has always said so.
    """
    ticket.status = transition(ticket.status, Event.MERGED)
    ticket.changes.update(stamped(ticket.status, now))


def autoclosed(now: datetime) -> Changes:
    """The status columns of auto-close's conditional update, for a due ticket.

    The job claims each row by updating it only while it is still
    :data:`AUTOCLOSE_FROM`; these are the values that update writes.
    """
    return stamped(transition(AUTOCLOSE_FROM, Event.AUTOCLOSE), now)
