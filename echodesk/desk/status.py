"""Ticket status as an explicit transition table.

Every (status, event) pair that is allowed is listed; anything else is
refused. A customer writing to a closed ticket is the one case that depends
on a setting (reopen it, or open a follow-up ticket).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Event(StrEnum):
    CUSTOMER_REPLY = "customer_reply"
    AGENT_REPLY = "agent_reply"
    SET_OPEN = "set_open"
    SET_PENDING = "set_pending"
    SET_RESOLVED = "set_resolved"
    SET_CLOSED = "set_closed"


FOLLOWUP = "followup"

_SET = {
    Event.SET_OPEN: Status.OPEN,
    Event.SET_PENDING: Status.PENDING,
    Event.SET_RESOLVED: Status.RESOLVED,
    Event.SET_CLOSED: Status.CLOSED,
}

TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.OPEN, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.PENDING, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.RESOLVED, Event.CUSTOMER_REPLY): Status.OPEN,
    (Status.OPEN, Event.AGENT_REPLY): Status.PENDING,
    (Status.PENDING, Event.AGENT_REPLY): Status.PENDING,
    (Status.RESOLVED, Event.AGENT_REPLY): Status.RESOLVED,
    (Status.CLOSED, Event.AGENT_REPLY): Status.CLOSED,
    **{(state, event): target for state in Status for event, target in _SET.items()},
}


def after_customer_reply(current: str, closed_reply: str) -> str:
    """The ticket's new status, or ``FOLLOWUP`` when a new linked ticket must open."""
    status = Status(current)
    if status is Status.CLOSED:
        return Status.OPEN.value if closed_reply == "reopen" else FOLLOWUP
    return TRANSITIONS[(status, Event.CUSTOMER_REPLY)].value


def transition(current: str, event: Event) -> str:
    """The status after ``event``; KeyError for a pair the table does not allow."""
    return TRANSITIONS[(Status(current), event)].value
