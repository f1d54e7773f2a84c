"""What a decision asks to be done, as data: the effect vocabulary.

Deciding never writes; it says what should happen as frozen effects.

* Ticket effects: an agent's command verb and a routing rule's action say
  what changes on a ticket (``SetStatus``, ``Assign``, ``Tag``, ``Untag``,
  ``SetPriority``, ``AddParticipant``, ``Snooze``, ``Remind``, ``Merge``,
  ``Notify``). One applier
  (:mod:`echodesk.desk.tickets.apply`) carries them out, so a status set by
  ``#close`` and one set by a rule's ``status: closed`` are the same change,
  written the same way, through the same transition table.
* Batch effects: what a batch of customer mail does besides opening tickets
  (``AppendMessage``, ``Audit``, ``Acknowledge``, ``RecordBounce``,
  ``RuleActions``, and ``Merge`` of replies that came before their parent),
  collected in :class:`~echodesk.desk.batch.Plan` by kind so that the
  pipeline writes each kind with one statement. A message held back is not an
  effect but its :class:`~echodesk.desk.item.Decision` (``quarantined``,
  ``dropped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from echodesk.desk.item import Item
from echodesk.mailbox.classify import Kind
from echodesk.rules import Action


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
class Follow:
    """An agent follows the ticket (colleagues' replies reach them), or stops."""

    agent_id: int
    following: bool = True


@dataclass(frozen=True)
class Snooze:
    """Put the ticket to sleep until ``until`` (UTC); ``None`` wakes it."""

    until: datetime | None


@dataclass(frozen=True)
class Remind:
    """Mail an agent about the ticket at ``at`` (UTC), with their words."""

    agent_id: int
    at: datetime
    text: str = ""


@dataclass(frozen=True)
class Merge:
    """Move a ticket's conversation into another ticket and close it.

    An agent's ``#merge`` names only the target (the ticket it answers is the
    source); the batch joining early replies to their parent names both, by key.
    """

    into: int
    source: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Notify:
    """Tell these addresses about the ticket (a rule's ``notify``), saying why."""

    addresses: tuple[str, ...]
    why: str


# -- what a batch of customer mail does, written set-at-a-time by the pipeline --------


@dataclass(frozen=True)
class AppendMessage:
    """Add an inbound message to a ticket (by its key in the batch)."""

    item: Item
    stored_id: str
    #: Whether the message opened its ticket (agents are told of a new ticket, not a reply).
    created: bool
    ticket: int
    kind: Kind
    reason: str
    customer_email: str | None


@dataclass(frozen=True)
class Audit:
    """Write an audit row (``target`` is a ticket key, a spool row id or a message index)."""

    actor: str
    action: str
    target_type: str
    ticket: int | None
    payload: dict[str, Any]
    #: What the target id is: a ticket key, a spool row id, or a planned message index.
    target: int


@dataclass(frozen=True)
class RecordBounce:
    """A delivery failure (or a complaint) matched to the outbox row and ticket it is about."""

    spool_row: int
    outbox_id: int
    ticket: int | None
    rcpt: str
    status: str
    diagnostic: str
    permanent: bool
    #: For an abuse complaint rather than a bounce: its feedback type ("abuse", ...).
    complaint: str = ""


@dataclass(frozen=True)
class Acknowledge:
    """An acknowledgement (or a rule's auto-reply) to send to the customer."""

    ticket: int
    item: Item
    #: The Message-ID the acknowledged message is stored under (the ack threads on it).
    stored_id: str
    rcpt: str
    name: str
    #: A rule's auto_reply: its template and its name (default: the acknowledgement).
    text: str = ""
    rule: str = ""


@dataclass(frozen=True)
class RuleActions:
    """What matched rules ask to do to a ticket (applied once the ticket exists)."""

    ticket: int
    item: Item
    actions: tuple[Action, ...]


#: An effect on one ticket's own fields and lists.
TicketEffect = (
    SetStatus | Assign | Tag | Untag | SetPriority | AddParticipant | Follow | Snooze | Remind
)
#: Every effect a command or a rule may ask for.
Effect = TicketEffect | Merge | Notify
#: What a batch of customer mail plans besides the tickets it opens (see ``batch.Plan``).
BatchEffect = AppendMessage | Audit | Acknowledge | RecordBounce | RuleActions | Merge
