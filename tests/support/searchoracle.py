"""The brute-force truth of a search: every message read, every ticket tested, in Python.

It knows nothing of the full-text index or of how ``echodesk.store.search``
plans a query: it reads the rows, cuts each message into words exactly as the
index is fed them (``searchindex.document``: subject, body with the attached
files' names, sender, recipients), and applies the documented meaning of each
operator (``echodesk.store.searchquery``) ticket by ticket. The test suite
compares the search with it on a small archive (``tests/store/test_search_oracle.py``);
``bench/search.py`` measures recall against it on a large one.

The messages are read once, in id order and in batches, for the text terms of
every query asked about up front; what each term matched is kept as a bitmap
of ticket ids, so a million messages fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.store.searchindex import document
from echodesk.store.searchquery import Query, Term, day, parse, sla_window

TEXT_KINDS = ("text", "subject", "from", "to")
_FIELD = {"subject": 0, "from": 2, "to": 3}
BATCH = 5000


def _when(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _key(term: Term) -> tuple[str, str, bool, bool]:
    return (term.kind, term.value, term.phrase, term.prefix)


def field_matches(tokens: Sequence[str], term: Term) -> bool:
    """Whether one field's words hold the term: the word, a word starting with the
    prefix, or the phrase's words in a row (the last one a prefix for ``"a b"*``)."""
    wanted = term.tokens
    last = len(wanted) - 1

    def at(i: int, j: int) -> bool:
        word = tokens[i + j] if term.phrase else tokens[i]
        return word.startswith(wanted[j]) if term.prefix and j == last else word == wanted[j]

    if not term.phrase:  # one word (a free word of several is always a phrase)
        return all(any(at(i, j) for i in range(len(tokens))) for j in range(len(wanted)))
    return any(all(at(i, j) for j in range(len(wanted))) for i in range(len(tokens) - last))


def message_matches(
    fields: Sequence[Sequence[str]], term: Term, sets: Sequence[frozenset[str]] | None = None
) -> bool:
    """A text term against one message's four fields (any of them for a free word);
    ``sets`` are the fields' words as sets, when the caller has them."""
    which = list(range(4)) if term.kind == "text" else [_FIELD[term.kind]]
    if not term.phrase and len(term.tokens) == 1:  # the common case, by sets
        word = term.tokens[0]
        for i in which:
            found = sets[i] if sets is not None else frozenset(fields[i])
            if any(w.startswith(word) for w in found) if term.prefix else word in found:
                return True
        return False
    return any(field_matches(fields[i], term) for i in which)


@dataclass
class TicketFacts:
    number: int
    status: str
    created_at: datetime
    updated_at: datetime
    merged: bool
    customer: tuple[str, str]  # (address, name), lower case
    assignee: tuple[str, str] | None  # (address, name), lower case
    tags: set[str] = field(default_factory=set)
    attachment: bool = False
    rating: str | None = None
    sla: tuple[datetime | None, datetime | None, int, int] | None = None


class Oracle:
    """The tickets each query selects, by reading everything (see the module docstring)."""

    def __init__(self, session: Session, queries: Iterable[str | Query], me: str | None = None):
        self.me = me
        self.now = datetime.now(UTC)
        self.queries = [parse(q) if isinstance(q, str) else q for q in queries]
        self.tickets = _tickets(session)
        self.ticket_of: dict[int, int] = {}
        terms = {_key(t): t for q in self.queries for t in q.terms if t.kind in TEXT_KINDS}
        self.found: dict[tuple[str, str, bool, bool], set[int]] = {k: set() for k in terms}
        self._read_messages(session, list(terms.values()))

    def _read_messages(self, session: Session, terms: list[Term]) -> None:
        size = max(self.tickets, default=0) + 1
        bitmaps = {_key(t): bytearray(size) for t in terms}
        files = _files(session)
        for tid, fields in _documents(session, files):
            if tid in self.tickets:
                self.tickets[tid].attachment |= fields[4] == "files"
            sets = [frozenset(f) for f in fields[:4]]
            for term in terms:
                bits = bitmaps[_key(term)]
                if not bits[tid] and message_matches(fields[:4], term, sets):
                    bits[tid] = 1
        for key, bits in bitmaps.items():
            self.found[key] = {i for i, b in enumerate(bits) if b}

    # -- the meaning of each term ------------------------------------------------------------
    def select(self, query: str | Query) -> set[int]:
        """The ids of the tickets the query selects."""
        parsed = parse(query) if isinstance(query, str) else query
        return {
            tid
            for tid, facts in self.tickets.items()
            if not facts.merged
            and all(any(self._holds(t, tid, facts) for t in c) for c in parsed.clauses)
        }

    def _holds(self, term: Term, tid: int, facts: TicketFacts) -> bool:
        if term.kind in TEXT_KINDS:
            found = tid in self.found[_key(term)]
            if term.kind == "text" and not term.negated:
                found = found or _names(term, facts)
            return not found if term.negated else found
        held = self._filter(term, facts)
        return not held if term.negated else held

    def _filter(self, term: Term, facts: TicketFacts) -> bool:
        kind, value = term.kind, term.value
        if kind == "customer":
            return any(term.raw in part for part in facts.customer)
        if kind == "status":
            return facts.status == value
        if kind == "tag":
            return value in facts.tags
        if kind == "assignee":
            return self._assignee(value, facts)
        if kind == "is":
            return facts.assignee is None
        if kind == "has":
            return facts.attachment
        if kind == "sla":
            return self._sla(value, facts)
        if kind == "rating":
            return facts.rating == value
        if kind == "before":
            return facts.created_at < day(value)
        return facts.updated_at >= day(value)  # after

    def _assignee(self, value: str, facts: TicketFacts) -> bool:
        if value in ("none", "nobody"):
            return facts.assignee is None
        if facts.assignee is None:
            return False
        if value == "me":
            return facts.assignee[0] == (self.me or "").lower()
        return any(value in part for part in facts.assignee)

    def _sla(self, value: str, facts: TicketFacts) -> bool:
        if facts.sla is None:
            return False
        response, resolution, response_stage, resolution_stage = facts.sla
        window = sla_window(value)
        by = self.now + timedelta(seconds=window or 0)
        due = any(d is not None and d <= by for d in (response, resolution))
        return due or (window is None and 2 in (response_stage, resolution_stage))


def _names(term: Term, facts: TicketFacts) -> bool:
    """A free word's other ways to a ticket: its number, a tag, its customer."""
    tokens = term.tokens
    digits = tokens[-1] if tokens and tokens[-1].isdigit() and len(tokens) <= 2 else ""
    if digits and len(digits) <= 12 and int(digits) == facts.number:
        return True
    if term.raw and not term.prefix and term.raw in facts.tags:
        return True
    return len(term.raw) >= 3 and any(term.raw in part for part in facts.customer)


def _tickets(session: Session) -> dict[int, TicketFacts]:
    people = {
        int(i): (str(e).lower(), str(n or "").lower())
        for i, e, n in session.execute(text("SELECT id, email, display_name FROM customers"))
    }
    agents = {
        int(i): (str(e).lower(), str(n or "").lower())
        for i, e, n in session.execute(text("SELECT id, email, name FROM agents"))
    }
    found: dict[int, TicketFacts] = {}
    columns = "id, number, status, created_at, updated_at, merged_into_id, customer_id, assignee_id"
    for row in session.execute(text(f"SELECT {columns} FROM tickets")):
        tid, number, status, created, updated, merged, customer, assignee = row
        found[int(tid)] = TicketFacts(
            number=int(number),
            status=str(status),
            created_at=_when(created),
            updated_at=_when(updated),
            merged=merged is not None,
            customer=people.get(customer, ("", "")),
            assignee=agents.get(assignee) if assignee is not None else None,
        )
    for tid, tag in session.execute(text("SELECT ticket_id, tag FROM ticket_tags")):
        if tid in found:
            found[tid].tags.add(str(tag))
    for tid, rating in session.execute(text("SELECT ticket_id, rating FROM ratings")):
        if tid in found:
            found[tid].rating = str(rating)
    sla = "ticket_id, response_due, resolution_due, response_stage, resolution_stage"
    for tid, response, resolution, s1, s2 in session.execute(text(f"SELECT {sla} FROM ticket_sla")):
        if tid in found:
            times = (
                _when(response) if response else None,
                _when(resolution) if resolution else None,
            )
            found[tid].sla = (*times, int(s1 or 0), int(s2 or 0))
    return found


def _files(session: Session) -> dict[int, list[str]]:
    """Every message's attachments' names (erased files are no words of the index)."""
    found: dict[int, list[str]] = {}
    every = session.execute(text("SELECT message_pk, filename, erased_at FROM attachments"))
    for pk, name, erased in every:
        found.setdefault(int(pk), []).append("" if erased is not None else str(name or ""))
    return found


def _documents(
    session: Session, files: dict[int, list[str]]
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Each message as (ticket id, (subject, body, sender, recipients words, files?))."""
    columns = "id, ticket_id, subject, body_text, from_email, from_name, to_addrs, cc_addrs"
    last = 0
    while True:
        rows = session.execute(
            text(f"SELECT {columns} FROM messages WHERE id > :last ORDER BY id LIMIT {BATCH}"),
            {"last": last},
        ).mappings()
        batch = [dict(r) for r in rows]
        if not batch:
            return
        last = int(batch[-1]["id"])
        for row in batch:
            for name in ("to_addrs", "cc_addrs"):
                if isinstance(row[name], str):
                    row[name] = _json_list(row[name])
            attached = files.get(int(row["id"]), [])
            names = [n for n in attached if n]
            fields = tuple(f.split() for f in document(row, names))
            yield int(row["ticket_id"]), (*fields, "files" if attached else "")


def _json_list(value: str) -> list[Any]:
    found = json.loads(value or "[]")
    return found if isinstance(found, list) else []
