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

from echodesk.desk.effects import (
    Acknowledge,
    AppendMessage,
    Audit,
    Merge,
    RecordBounce,
    RuleActions,
)
from echodesk.store.lookups import AgentRow, OutboxRef, StoredMessage, TicketRow
from echodesk.store.tickets import merge_chain


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


@dataclass
class Plan:
    """What a batch of customer mail does, grouped by effect so each group is written
    with one statement: the tickets it opens, then its effects (see :mod:`effects`)."""

    new_tickets: list[TicketState] = field(default_factory=list)
    messages: list[AppendMessage] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    audit: list[Audit] = field(default_factory=list)
    customers: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    participants: dict[int, dict[str, str]] = field(default_factory=dict)
    bounces: list[RecordBounce] = field(default_factory=list)
    acks: list[Acknowledge] = field(default_factory=list)
    rule_actions: list[RuleActions] = field(default_factory=list)


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
