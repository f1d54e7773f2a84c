"""Deciding a batch of messages in memory: the index the threader reads, and the plan.

The pipeline fetches what the batch can depend on (see
:mod:`echodesk.store.lookups`) into a :class:`BatchIndex`, then decides the
messages one by one in spool order. A message comes in as a frozen
:class:`Item` and leaves as a frozen :class:`Decision` (what became of it);
what it changes goes into the batch's :class:`Plan`. Each decision updates
the index, so a message sees the tickets and messages the earlier ones of the
same batch created, exactly as if they had been committed one at a time. The
plan is written with set-at-a-time statements (:mod:`echodesk.store.writes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from echodesk.mailbox.bounce import BounceReport
from echodesk.mailbox.classify import Kind, Verdict
from echodesk.mailbox.complaint import ComplaintReport
from echodesk.mailbox.mailtime import mail_time
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.trust import SenderCheck
from echodesk.rules import Action
from echodesk.store.lookups import AgentRow, OutboxRef, StoredMessage, TicketRow
from echodesk.store.tickets import merge_chain
from echodesk.store.types import utcnow


@dataclass
class TicketState:
    """A ticket as the batch sees it; ``key`` is its id, or a negative key until inserted."""

    key: int
    number: int | None
    status: str
    subject: str
    merged_into: int | None = None
    new: bool = False
    customer_email: str | None = None
    followup_of: int | None = None
    created_at: datetime | None = None
    #: Columns to update on an existing ticket, by column name.
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """One claimed spool row: its message parsed, trimmed and classified, as deciding reads it.

    Filled in once, outside any transaction (:func:`~echodesk.desk.intake.pipeline.parse_row`);
    what becomes of it is a separate :class:`Decision`.
    """

    row_id: int
    msg: ParsedMessage
    trimmed: str = ""
    verdict: Verdict | None = None
    #: The ticket a signed reply address it was sent to names.
    reply_ticket: int | None = None
    #: The outbox row a signed VERP address it was sent to names.
    verp_outbox: int | None = None
    bounce: BounceReport | None = None
    #: (ticket id, agent id) of every valid agent signature the message carries.
    signed: tuple[tuple[int, int], ...] = ()
    #: Released from quarantine by an operator: the spam, flood and rule checks are skipped.
    released: bool = False
    #: What Echo and the trusted hosts found about the sender (see mailbox.trust).
    sender: SenderCheck | None = None
    #: The message's own time (see :mod:`echodesk.mailbox.mailtime`).
    sent_at: datetime | None = None
    complaint: ComplaintReport | None = None

    @property
    def time(self) -> datetime:
        """The message's own time; read from the message alone when the row did not say."""
        if self.sent_at is not None:
            return self.sent_at
        return mail_time(self.msg.date, self.msg.first_received, None, utcnow())


@dataclass(frozen=True)
class Decision:
    """What became of one spool row: its state and kind, why, and its ticket."""

    #: The Message-ID it is stored under (derived when another message had its id).
    stored_id: str
    state: str = "processed"
    kind: str = ""
    reason: str = ""
    #: The ticket, by its key in the batch (see :class:`BatchIndex`).
    ticket: int | None = None
    created: bool = False
    #: Whether the message itself was added to ``ticket`` (a bounce only notes it).
    appended: bool = False
    #: The ticket, when it is known by id rather than by a key of the batch (agent mail).
    ticket_id: int | None = None
    ticket_number: int | None = None


@dataclass(frozen=True)
class PlannedMessage:
    item: Item
    stored_id: str
    #: Whether the message opened its ticket (agents are told of a new ticket, not a reply).
    created: bool
    ticket: int
    kind: Kind
    reason: str
    customer_email: str | None


@dataclass(frozen=True)
class Merge:
    source: int
    target: int
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    target_type: str
    ticket: int | None
    payload: dict[str, Any]
    #: What the target id is: a ticket key, a spool row id, or a planned message index.
    target: int


@dataclass(frozen=True)
class BounceEvent:
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
class PlannedAck:
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
class PlannedRules:
    """What matched rules ask to do to a ticket (applied once the ticket exists)."""

    ticket: int
    item: Item
    actions: tuple[Action, ...]


@dataclass
class Plan:
    new_tickets: list[TicketState] = field(default_factory=list)
    messages: list[PlannedMessage] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    customers: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    participants: dict[int, dict[str, str]] = field(default_factory=dict)
    bounces: list[BounceEvent] = field(default_factory=list)
    acks: list[PlannedAck] = field(default_factory=list)
    rule_actions: list[PlannedRules] = field(default_factory=list)


class BatchIndex:
    """What is known about stored and just-decided messages; the threader's lookup."""

    def __init__(
        self,
        *,
        spool_seen: set[tuple[str, str]],
        stored: Mapping[str, StoredMessage],
        children: Mapping[str, list[int]],
        tickets: Mapping[int, TicketRow],
        participants: Mapping[int, set[str]],
        agents: Mapping[str, AgentRow],
        notes: Mapping[int, Sequence[str]] | None = None,
        outbox: Mapping[int, OutboxRef] | None = None,
        outbox_by_message: Mapping[str, list[OutboxRef]] | None = None,
        ack_counts: Mapping[str, int] | None = None,
        opened: Mapping[str, Sequence[datetime]] | None = None,
    ) -> None:
        self.spool_seen = set(spool_seen)
        self.messages: dict[str, tuple[int, str, str]] = {
            mid: (m.ticket_id, m.content_hash, m.direction) for mid, m in stored.items()
        }
        self.children = {k: list(v) for k, v in children.items()}
        self.tickets = {
            t.id: TicketState(t.id, t.number, t.status, t.subject, t.merged_into_id)
            for t in tickets.values()
        }
        self.by_number = {t.number: t.id for t in tickets.values()}
        self.participants = {k: set(v) for k, v in participants.items()}
        #: Active agents by every address they send from (own address and aliases).
        self.agent_rows = dict(agents)
        self.agents = set(agents)
        #: The internal notes of the tickets agents' mail of the batch is about.
        self.notes = {k: list(v) for k, v in (notes or {}).items()}
        self.outbox = dict(outbox or {})
        self.outbox_by_message = dict(outbox_by_message or {})
        #: Acknowledgements queued to each address in the last 24 hours.
        self.ack_counts = dict(ack_counts or {})
        #: When each sender of the batch opened tickets, in mail time (flood limit, rules).
        self.opened = {email: list(times) for email, times in (opened or {}).items()}
        self._next_key = -1

    def opened_in_day_before(self, email: str, when: datetime) -> int:
        """Tickets ``email`` opened in the 24 hours up to ``when`` (the mail's own time)."""
        since = when - timedelta(hours=24)
        return sum(1 for t in self.opened.get(email, ()) if since <= t <= when)

    def new_key(self) -> int:
        key, self._next_key = self._next_key, self._next_key - 1
        return key

    def live(self, key: int) -> int:
        """Follow merges to the ticket that lives on (cycle-safe)."""
        return merge_chain(key, self._merged_into)[-1]

    def _merged_into(self, key: int) -> int | None:
        ticket = self.tickets.get(key)
        return ticket.merged_into if ticket is not None else None

    # -- TicketLookup --------------------------------------------------
    def tickets_by_message_ids(self, ids: Sequence[str]) -> Mapping[str, int]:
        return {mid: self.live(self.messages[mid][0]) for mid in ids if mid in self.messages}

    def tickets_replying_to(self, message_id: str) -> Sequence[int]:
        out: dict[int, None] = {}
        for key in self.children.get(message_id, ()):
            out.setdefault(self.live(key), None)
        return list(out)

    def ticket_by_number(self, number: int) -> int | None:
        key = self.by_number.get(number)
        return None if key is None else self.live(key)

    def ticket_by_id(self, ticket_id: int) -> int | None:
        return self.live(ticket_id) if ticket_id in self.tickets else None

    def is_participant(self, ticket_id: int, email: str) -> bool:
        key = email.strip().lower()
        return key in self.participants.get(ticket_id, set()) or key in self.agents
