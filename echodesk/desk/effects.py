"""What a decision asks to be done to a ticket, as data: the effect vocabulary.

An agent's command verb, a routing rule's action and the pipeline's own
steps each say what should change as frozen effects; they never touch a
ticket themselves. One applier (:mod:`echodesk.desk.tickets.apply`) carries
effects out, so a status set by ``#close`` and one set by a rule's
``status: closed`` are the same change, written the same way, with the
same transition table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SetStatus:
    """Set the ticket's status outright (through the transition table)."""

    status: str


@dataclass(frozen=True)
class Assign:
    """Give the ticket to an agent (``None``: to nobody)."""

    agent_id: int | None


@dataclass(frozen=True)
class Tag:
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Untag:
    tags: tuple[str, ...]


@dataclass(frozen=True)
class SetPriority:
    priority: str


@dataclass(frozen=True)
class AddParticipant:
    """Copy these addresses on the ticket's replies (``cc``), or let them write to it."""

    emails: tuple[str, ...]
    role: str = "cc"


@dataclass(frozen=True)
class Merge:
    """Move the ticket's conversation into another ticket (by id) and close it."""

    into: int


@dataclass(frozen=True)
class Notify:
    """Tell these addresses about the ticket (a rule's ``notify``), saying why."""

    addresses: tuple[str, ...]
    why: str


#: An effect on one ticket's own fields and lists.
TicketEffect = SetStatus | Assign | Tag | Untag | SetPriority | AddParticipant
#: Every effect a command or a rule may ask for.
Effect = TicketEffect | Merge | Notify
