"""A search's terms made into SQL, for the database in hand, and what each database affords.

:mod:`echodesk.store.search` answers a parsed query on SQLite FTS5 or
PostgreSQL; this module holds what every part of that answer writes its SQL
with: :class:`Sql`, one search's bound parameters and the dialect's pieces
(index expressions, sets of tickets, tests on one ticket, scores), and
:class:`Part`, one term of the query as SQL: its sets of tickets, its test on
a ticket and (sized by :mod:`echodesk.store.searchplan`) its rows. A free word
also names tickets: by number, tag, or customer address or name. Ticket
filters (``status:``, ``sla:``, ``before:`` ...) are conditions on ``t``, or
sets read from their own tables where those are smaller.

:class:`Budget` is what each database affords: the sizes that pick a plan
(:mod:`echodesk.store.searchplan`) and what a row costs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.store.searchindex import ID_TICKET_INDEX
from echodesk.store.searchquery import SearchError, Term, day, sla_window
from echodesk.store.types import as_bound, utcnow


@dataclass(frozen=True)
class Budget:
    """What each database affords: the sizes that pick a plan, and what a row costs.

    The costs are measured on the benchmark's archives (``bench/search.py``) and
    only choose between plans that give the same answer.
    """

    rank_limit: int  # rows of the driving clause at most for the ranked order
    set_limit: int  # rows at most for a candidate set read whole (newest first)
    word_limit: int  # tickets at most read whole from each ticket's words (PostgreSQL)
    map_us: float  # microseconds to find the ticket of one matching message
    probe_us: float  # microseconds to test one ticket for one word
    set_ms: float  # a newest-first candidate set dearer than this is walked instead
    walk_ms: float  # a walk that has not filled its page by then reads the set instead
    count_ms: float  # time a count of a walked query may take


BUDGETS = {
    # SQLite, on bench/search.py's 100k archive: a matching message's ticket is found in
    # 0.3-0.55 us; one ticket is tested for one word in 47 us (a word of most tickets,
    # found at once) to 140-220 us (a rarer word, looked for in each of its messages).
    # Ranking costs bm25 for every message of the driving clause (about 2.7 us each):
    # past 5,000 messages that alone would take most of a search's 50 ms.
    "sqlite": Budget(5_000, 30_000, 0, 0.4, 150.0, 40.0, 40.0, 10.0),
    "postgresql": Budget(3_000, 15_000, 5_000, 3.0, 15.0, 60.0, 60.0, 40.0),
}
TICKETS_PER_CUSTOMER = 4  # a guess, for sizing a customer's tickets on PostgreSQL
TEXT_KINDS = ("text", "subject", "from", "to")
_COLUMN = {"text": "", "subject": "subject", "from": "sender", "to": "recipients"}
_WEIGHT = {"subject": "A", "from": "C", "to": "D"}
_BM25 = "-bm25(message_fts, 8.0, 1.0, 2.0, 1.0)"  # subject 8, body 1, sender 2, recipients 1
INF = float("inf")


# -- SQL of one search ---------------------------------------------------------------------


class Sql:
    """Bound parameters with fresh names, shared subqueries, and the dialect's pieces."""

    def __init__(self, session: Session, me: str | None) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.budget = BUDGETS["postgresql" if self.pg else "sqlite"]
        self.me = me
        self.params: dict[str, Any] = {}
        self.messages = 0.0  # the newest message's id: about how many there are
        self.guesses: dict[str, float] = {}  # sets sized without asking the planner
        self.people: dict[str, list[int]] = {}  # customers by what they contain

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def with_ctes(self, *ctes: str) -> str:
        return ("WITH " + ", ".join(ctes) + " ") if ctes else ""

    def member(self, column: str, values: Sequence[int]) -> str:
        """``column`` is one of these ids (one bound parameter, however many): an array
        PostgreSQL hashes, a JSON list SQLite reads into an index once."""
        if self.pg:
            return f"{column} = ANY(CAST({self.bind(list(values))} AS bigint[]))"
        return f"{column} IN (SELECT value FROM json_each({self.bind(json.dumps(list(values)))}))"

    def containing(self, table: str, columns: tuple[str, str], value: str) -> list[int]:
        """The ids of the rows whose columns contain ``value`` (letters compared without
        case, as Python lowers them).

        Found once per search, not in every statement that needs them. SQLite's LIKE
        folds ASCII letters only, so for a value with other letters it is told to
        take any letter there, and Python keeps the rows that really contain it.
        """
        like = "ILIKE" if self.pg else "LIKE"
        where = " OR ".join(f"{c} {like} :pattern ESCAPE '\\'" for c in columns)
        rows = self.session.execute(
            text(f"SELECT id, {', '.join(columns)} FROM {table} WHERE {where}"),
            {"pattern": self.pattern(value)},
        )
        lowered = value.lower()
        return [int(r[0]) for r in rows if any(lowered in (v or "").lower() for v in r[1:])]

    def pattern(self, value: str) -> str:
        """A LIKE pattern that every text containing ``value`` fits, whatever its case:
        exact for ASCII letters, which LIKE folds; SQLite takes any letter for the
        others (Python then keeps the rows that really contain the value)."""
        skeleton = value if value.isascii() or self.pg else re.sub(r"[^\x00-\x7f]", "\x00", value)
        escaped = skeleton.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "%" + escaped.replace("\x00", "_") + "%"

    def customers(self, value: str) -> list[int]:
        """The customers whose address or name contains ``value`` (read with the
        others of the query, see :meth:`read_customers`)."""
        if value not in self.people:
            self.read_customers([value])
        return self.people[value]

    def read_customers(self, values: Sequence[str]) -> None:
        """The customers whose address or name contains each value, for all of them in
        one pass over the customers (a scan on SQLite, which has no trigram index)."""
        wanted = sorted(set(values) - set(self.people))
        if not wanted:
            return
        found: dict[str, list[int]] = {v: [] for v in wanted}
        like = "ILIKE" if self.pg else "LIKE"
        tests = [
            f"email {like} :c{n} ESCAPE '\\' OR display_name {like} :c{n} ESCAPE '\\'"
            for n in range(len(wanted))
        ]
        rows = self.session.execute(
            text(f"SELECT id, email, display_name FROM customers WHERE {' OR '.join(tests)}"),
            {f"c{n}": self.pattern(value) for n, value in enumerate(wanted)},
        )
        for ident, email, name in rows:
            fields = ((email or "").lower(), (name or "").lower())
            for value in wanted:
                if any(value.lower() in f for f in fields):
                    found[value].append(int(ident))
        self.people.update(found)

    def customers_tickets(self, value: str) -> tuple[str, str]:
        """The tickets of the customers whose address or name contains ``value``: as a
        set, and as a condition on ``t``. PostgreSQL's planner is not asked their
        size: it weighs a long array one element at a time."""
        who = self.customers(value)
        found = f"SELECT t.id FROM tickets t WHERE {self.member('t.customer_id', who)}"
        self.guesses[found] = len(who) * TICKETS_PER_CUSTOMER
        return found, self.member("t.customer_id", who)

    # -- the index -------------------------------------------------------------------------
    def expression(self, term: Term) -> str:
        """The FTS5 MATCH expression, or the tsquery text, of a text term.

        On PostgreSQL a phrase is looked for within each field (the fields are one
        vector, and a phrase must not run from the end of the subject into the body).
        """
        tokens = term.tokens
        if self.pg:
            return _tsquery(term, tokens)
        if term.phrase:
            body = '"' + " ".join(tokens) + '"' + ("*" if term.prefix else "")
        else:
            body = " ".join(f'"{t}"' for t in tokens[:-1])
            body = (body + " " if body else "") + f'"{tokens[-1]}"' + ("*" if term.prefix else "")
        column = _COLUMN[term.kind]
        return f"{column} : ({body})" if column else body

    def postings(self, expr: str) -> str:
        """The ids of the messages that match (a bound expression)."""
        if self.pg:
            return f"SELECT id FROM messages WHERE search_vector @@ to_tsquery('simple', {expr})"
        return f"SELECT rowid FROM message_fts WHERE message_fts MATCH {expr}"

    def tickets_of(self, expr: str) -> str:
        """The tickets with a matching message, as a set (the cost grows with the matches)."""
        if self.pg:
            return (
                "SELECT ticket_id FROM messages "
                f"WHERE search_vector @@ to_tsquery('simple', {expr})"
            )
        return (
            f"SELECT m.ticket_id FROM message_fts f CROSS JOIN messages m INDEXED BY "
            f"{ID_TICKET_INDEX} ON m.id = f.rowid WHERE message_fts MATCH {expr}"
        )

    def probe(self, expr: str, *, as_join: bool = False) -> str:
        """Ticket ``t`` has a matching message, tested on its own messages alone (or,
        ``as_join``, left to PostgreSQL to answer with a join over every match)."""
        if self.pg:
            # OFFSET 0 keeps this a test of each ticket's few messages: as a join,
            # PostgreSQL would first find every message with the word.
            return (
                "EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND "
                f"m.search_vector @@ to_tsquery('simple', {expr}){'' if as_join else ' OFFSET 0'})"
            )
        return (
            "EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND EXISTS "
            f"(SELECT 1 FROM message_fts f WHERE message_fts MATCH {expr} AND f.rowid = m.id))"
        )

    def score_ctes(self, expr: str) -> list[str]:
        """CTEs ending in ``sc`` (tid, score, best): each hit's best-scoring message."""
        if self.pg:
            q = f"to_tsquery('simple', {expr})"
            return [
                f"sc AS MATERIALIZED (SELECT DISTINCT ON (m.ticket_id) m.ticket_id AS tid, "
                f"CAST(ts_rank_cd(m.search_vector, {q}) AS float8) AS score, m.id AS best "
                f"FROM messages m WHERE m.ticket_id IN (SELECT id FROM hits) AND "
                f"m.search_vector @@ {q} ORDER BY m.ticket_id, 2 DESC, m.id DESC)"
            ]
        # bm25() only works in a plain FTS query (materialised, so that it stays one);
        # SQLite keeps the other columns of the MAX() row, so best is the best message.
        # Every match is scored (few: these words are rare); the hits pick theirs.
        return [
            f"fs AS MATERIALIZED (SELECT rowid AS mid, {_BM25} AS score FROM message_fts "
            f"WHERE message_fts MATCH {expr})",
            f"sc AS MATERIALIZED (SELECT m.ticket_id AS tid, MAX(f.score) AS score, f.mid AS "
            f"best FROM fs f CROSS JOIN messages m INDEXED BY {ID_TICKET_INDEX} ON m.id = f.mid "
            "GROUP BY m.ticket_id)",
        ]

    def union(self, terms: Sequence[Term]) -> str:
        """One expression matching a message that matches any of ``terms``."""
        joiner = " | " if self.pg else " OR "
        return joiner.join(f"({self.expression(t)})" for t in terms)


def _tsquery(term: Term, tokens: tuple[str, ...]) -> str:
    def one(weight: str) -> str:
        parts = [f"{t}:{weight}" if weight else t for t in tokens]
        if term.prefix:
            parts[-1] = f"{tokens[-1]}:*{weight}"
        return (" <-> " if term.phrase else " & ").join(parts)

    weight = _WEIGHT.get(term.kind, "")
    if weight or not term.phrase:
        return one(weight)
    return " | ".join(f"({one(w)})" for w in "ABCD")


# -- terms and clauses ----------------------------------------------------------------------


@dataclass
class Part:
    """One term, made into SQL: its sets of tickets, its tests, its size."""

    term: Term
    expr: str = ""  # bound index expression (text kinds)
    named: list[tuple[str, str]] = field(default_factory=list)  # (set, condition) pairs
    condition: str = ""  # a filter as a condition on t
    tickets: str = ""  # a filter as a set of ticket ids
    rows: float = INF  # matching messages plus named tickets, or tickets of a filter
    tag: str = ""  # the tag a free word names (its set is among ``named``)
    tag_set: str = ""

    @property
    def text(self) -> bool:
        return self.term.kind in TEXT_KINDS

    @property
    def exact(self) -> bool:
        """Whether a ticket's words (PostgreSQL's ``ticket_words``) tell exactly whether
        a message of it has this term: one plain word (a field or a phrase needs the
        message's own vector)."""
        term = self.term
        return term.kind == "text" and len(term.tokens) == 1 and not term.phrase

    def ticket_query(self, sql: Sql) -> str:
        """This term as a tsquery of a ticket's words (SQL): its words, each in some
        message of the ticket (the last one a prefix if it is one), or the tag it names
        (kept there as ``#tag``)."""
        tokens = list(self.term.tokens)
        tokens[-1] += ":*" if self.term.prefix else ""
        query = f"to_tsquery('simple', {sql.bind(' & '.join(tokens))})"
        if not self.tag:
            return query
        lexeme = "'#" + self.tag.replace("\\", "\\\\").replace("'", "''") + "'"
        return f"({query} || CAST({sql.bind(lexeme)} AS tsquery))"

    def set_sql(self, sql: Sql) -> list[str]:
        """The ticket ids this (positive) term selects, as SQL sets (UNION ALL them)."""
        if not self.text:
            return [self.tickets]
        return [sql.tickets_of(self.expr), *(s for s, _ in self.named)]

    def test(self, sql: Sql, tickets: float) -> str:
        """This term as a condition on ``t``, for about ``tickets`` tickets to test."""
        if not self.text:
            return f"NOT ({self.condition})" if self.term.negated else f"({self.condition})"
        if self.as_set(sql, tickets):
            return self._set_test(sql)
        named = self.named
        if sql.pg and self.exact:  # the ticket's words, one short row (with its tag)
            found = self._words_probe(sql)
            named = [(s, c) for s, c in named if s != self.tag_set]
        else:
            found = sql.probe(self.expr)
        if self.term.negated:  # no message of the ticket matches (names do not count)
            return f"NOT ({found})"
        return "(" + " OR ".join([found, *(c for _, c in named)]) + ")"

    def _words_probe(self, sql: Sql) -> str:
        """Ticket ``t``'s words hold this term (PostgreSQL): one row of ``ticket_words``
        read, not every message of the ticket; the messages when its words are not
        kept (too many)."""
        return (
            "EXISTS (SELECT 1 FROM ticket_words w WHERE w.ticket_id = t.id AND "
            f"(w.words @@ {self.ticket_query(sql)} OR (w.words IS NULL AND "
            f"{sql.probe(self.expr)})))"
        )

    def as_set(self, sql: Sql, tickets: float) -> bool:
        """Whether reading this word's tickets whole costs less than testing ``tickets``
        tickets one by one."""
        return self.text and self.rows * sql.budget.map_us <= tickets * sql.budget.probe_us

    def _set_test(self, sql: Sql) -> str:
        """The term tested against the set of its tickets, read once.

        One ``IN`` over every set the term selects (its messages' tickets and
        those its names pick), never ``IN ... OR ...``: PostgreSQL answers an
        ``IN`` with a join, but a sub-select inside ``OR`` either fits in memory
        as a hash or is read again for every ticket tested, which at a million
        messages takes minutes. A negation is ``NOT EXISTS`` there, which
        PostgreSQL answers with an anti-join (``NOT IN`` it cannot).
        """
        if self.term.negated:
            if sql.pg:
                return f"NOT {sql.probe(self.expr, as_join=True)}"
            return f"NOT (t.id IN ({sql.tickets_of(self.expr)}))"
        return f"(t.id IN ({union(self.set_sql(sql))}))"


def union(sets: Iterable[str]) -> str:
    """Sets of ticket ids (SQL) as one (each wrapped, so that any may have its own
    ORDER BY or LIMIT)."""
    return " UNION ALL ".join(f"SELECT * FROM ({s}) s" for s in sets)


def _ticket_number(term: Term) -> int | None:
    tokens = term.tokens
    digits = tokens[-1] if tokens and tokens[-1].isdigit() and len(tokens) <= 2 else ""
    return int(digits) if digits and len(digits) <= 12 else None


def names_customers(term: Term) -> bool:
    """Whether a term looks for customers: ``customer:``, or a positive free word."""
    if term.kind == "customer":
        return True
    return term.kind == "text" and not term.negated and len(term.raw) >= 3


def _name(sql: Sql, part: Part) -> None:
    """The tickets a free word names: by number, tag, or customer address or name."""
    term = part.term
    number = _ticket_number(term)
    if number is not None:
        n = sql.bind(number)
        part.named.append((f"SELECT id FROM tickets WHERE number = {n}", f"t.number = {n}"))
    if term.raw and not term.prefix:
        tag = sql.bind(term.raw)
        part.tag, part.tag_set = term.raw, f"SELECT ticket_id FROM ticket_tags WHERE tag = {tag}"
        exists = f"EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = {tag})"
        part.named.append((part.tag_set, exists))
    if names_customers(term) and sql.customers(term.raw):
        part.named.append(sql.customers_tickets(term.raw))


def part(sql: Sql, term: Term) -> Part:
    if term.kind == "customer":
        tickets, condition = sql.customers_tickets(term.raw)
        return Part(term, condition=condition, tickets=tickets)
    if term.kind not in TEXT_KINDS:
        condition = _filter(sql, term)
        return Part(term, condition=condition, tickets=_filter_set(sql, term, condition))
    part = Part(term, expr=sql.bind(sql.expression(term)))
    if term.kind == "text" and not term.negated:
        _name(sql, part)
    return part


def _filter(sql: Sql, term: Term) -> str:
    """A ticket filter (not a text term, nor ``customer:``) as a condition on ``t``."""
    kind = term.kind
    if kind == "status":
        return f"t.status = {sql.bind(term.value)}"
    if kind == "tag":
        return f"t.id IN (SELECT ticket_id FROM ticket_tags WHERE tag = {sql.bind(term.value)})"
    if kind == "assignee":
        return _assignee(sql, term.value)
    if kind == "is":
        return "t.assignee_id IS NULL"
    if kind == "has":
        return (
            "EXISTS (SELECT 1 FROM messages m JOIN attachments a ON a.message_pk = m.id "
            "WHERE m.ticket_id = t.id)"
        )
    if kind == "sla":
        return _sla(sql, term.value)
    if kind == "rating":
        return f"t.id IN (SELECT ticket_id FROM ratings WHERE rating = {sql.bind(term.value)})"
    if kind == "before":
        return f"t.created_at < {sql.bind(_when(sql, term.value))}"
    return f"t.updated_at >= {sql.bind(_when(sql, term.value))}"  # after


def _filter_set(sql: Sql, term: Term, condition: str) -> str:
    """A filter's tickets as a set, read from its own table where that is smaller."""
    inner = re.fullmatch(r"t\.id IN \((.*)\)", condition, re.S)
    if inner:  # tags, ratings, SLA rows
        return inner[1]
    if term.kind == "has":
        join = f"messages m INDEXED BY {ID_TICKET_INDEX}" if not sql.pg else "messages m"
        return f"SELECT m.ticket_id FROM attachments a JOIN {join} ON m.id = a.message_pk"
    return f"SELECT t.id FROM tickets t WHERE {condition}"


def _when(sql: Sql, value: str) -> Any:
    return as_bound(sql.pg, day(value))


def _sla(sql: Sql, value: str) -> str:
    """Tickets with a target breached, or due within a window; each part on its index."""
    now = utcnow()
    window = sla_window(value)
    by = sql.bind(as_bound(sql.pg, now if window is None else now + timedelta(seconds=window)))
    due = [
        f"SELECT ticket_id FROM ticket_sla WHERE response_due <= {by}",
        f"SELECT ticket_id FROM ticket_sla WHERE resolution_due <= {by}",
    ]
    if window is None:
        due.append(
            "SELECT ticket_id FROM ticket_sla WHERE response_stage = 2 OR resolution_stage = 2"
        )
    return f"t.id IN ({' UNION '.join(due)})"


def _assignee(sql: Sql, value: str) -> str:
    if value in ("none", "nobody"):
        return "t.assignee_id IS NULL"
    if value == "me":
        if not sql.me:
            raise SearchError("assignee:me needs to know who you are (sign in, or use --me)")
        return f"t.assignee_id IN (SELECT id FROM agents WHERE email = {sql.bind(sql.me.lower())})"
    return sql.member("t.assignee_id", sql.containing("agents", ("email", "name"), value))
