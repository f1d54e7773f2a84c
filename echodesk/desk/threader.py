"""Which ticket a message belongs to: a pure function over a small value object.

The rules follow DESIGN §3 in order of trust, and every decision says why:
1. a signed reply address (``support+t-42-<sig>@``) that Echo put in Reply-To;
2. ``In-Reply-To``, then every ``References`` id from the nearest ancestor
   back to the root, naming a message Echo stored or sent;
2b. a message that earlier-arrived replies name (the parent came late);
3. the subject tag ``[TKT-0042]``, only from a participant of that ticket whose
   mail is not unverified (a forged From must not join a stranger's ticket);
4. otherwise a new ticket.
The lookups are injected, so the rules are tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ThreadingKeys:
    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject_tag: int | None
    sender: str
    #: The ticket named by a signed reply address the message was sent to.
    reply_ticket: int | None = None
    #: The From domain failed DMARC (or DKIM and SPF): its subject tag is not believed.
    unverified: bool = False


@dataclass(frozen=True)
class Match:
    """The decision: a ticket id (None opens a new ticket) and the reason for it."""

    ticket_id: int | None
    reason: str
    #: A ticket number that was named in the subject but not trusted.
    mentioned: int | None = None


class TicketLookup(Protocol):
    def tickets_by_message_ids(self, ids: Sequence[str]) -> Mapping[str, int]:
        """Ticket ids of stored messages among ``ids`` (merged tickets resolved)."""
        ...

    def tickets_replying_to(self, message_id: str) -> Sequence[int]:
        """Tickets whose messages name ``message_id`` as a parent, oldest first."""
        ...

    def ticket_by_number(self, number: int) -> int | None:
        """The ticket with this number (merged tickets resolved), if any."""
        ...

    def is_participant(self, ticket_id: int, email: str) -> bool: ...

    def ticket_by_id(self, ticket_id: int) -> int | None:
        """The ticket with this id (merged tickets resolved), if it exists."""
        ...


def subject_tag_pattern(prefix: str) -> re.Pattern[str]:
    """``[PREFIX-0042]`` in a subject; the prefix is data, so it is escaped."""
    return re.compile(r"\[" + re.escape(prefix) + r"-(\d{1,12})\]", re.IGNORECASE)


def subject_tag(subject: str, pattern: re.Pattern[str]) -> int | None:
    match = pattern.search(subject)
    return int(match.group(1)) if match else None


def find_ticket(keys: ThreadingKeys, lookup: TicketLookup) -> Match:
    """Decide the ticket for a message (see the module docstring for the order)."""
    if keys.reply_ticket is not None:
        signed = lookup.ticket_by_id(keys.reply_ticket)
        if signed is not None:
            return Match(signed, "signed reply address")
    by_headers = _by_headers(keys, lookup)
    if by_headers is not None:
        return by_headers
    children = lookup.tickets_replying_to(keys.message_id)
    if children:
        return Match(children[0], "parent of a reply that arrived first")
    if keys.subject_tag is None:
        return Match(None, "new ticket")
    tagged = lookup.ticket_by_number(keys.subject_tag)
    if tagged is None:
        return Match(None, "new ticket (subject tag names no ticket)", keys.subject_tag)
    if keys.unverified:
        return Match(None, "new ticket (subject tag from an unverified sender)", keys.subject_tag)
    if keys.sender and lookup.is_participant(tagged, keys.sender):
        return Match(tagged, f"subject tag {keys.subject_tag}")
    return Match(None, "new ticket (subject tag from a non-participant)", keys.subject_tag)


def _by_headers(keys: ThreadingKeys, lookup: TicketLookup) -> Match | None:
    """In-Reply-To first, then References nearest-first (the last id is the parent)."""
    ordered: list[tuple[str, str]] = [(mid, "In-Reply-To") for mid in keys.in_reply_to]
    ordered += [(mid, "References") for mid in reversed(keys.references)]
    ids = [mid for mid, _ in ordered if mid != keys.message_id]
    if not ids:
        return None
    found = lookup.tickets_by_message_ids(ids)
    for mid, header in ordered:
        if mid in found and mid != keys.message_id:
            return Match(found[mid], f"{header} <{mid}>")
    return None
