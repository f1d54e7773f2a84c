"""Searching the archive: a parsed query, answered exactly on SQLite FTS5 or PostgreSQL.

What a query selects is written in :mod:`echodesk.store.searchquery`; this
module finds exactly those tickets, counts them, and pages through them in a
total order. How, and why this way:

* **Plan from the rarest clause.** Every word, phrase and field term is
  first sized: how many messages the index holds for it (SQLite counts its
  FTS5 postings, which costs a few microseconds a thousand; PostgreSQL asks
  its planner, whose statistics know each common word's frequency, and counts
  a word they do not list when it may be rare enough to rank). Ticket filters
  are sized the same way. The clause with the fewest rows (a clause of ORed
  terms can drive if none of them is negated) *drives*: its tickets are the
  candidates, every other clause, negation and filter is tested on them, in
  SQL, each either as a set (all tickets with a word: cheap for a rare word)
  or ticket by ticket (cheap for few candidates), whichever costs less. A
  filter drives by leaving the plan to the database, which knows its indexes.
* **Two orders, both total.** When the query has words and its driving
  clause has at most ``rank_limit`` rows, every result is ranked: an exact
  subject match first (the ticket's subject, cut into words, is the query's
  words), then relevance (the index's own score of the ticket's best message:
  FTS5's bm25 with the subject weighing most, PostgreSQL's ts_rank_cd; only
  words in at most ``rank_limit`` messages count, as a word found everywhere
  says nothing about which ticket is meant), then the most recently updated,
  then the ticket id. Otherwise ranking every match would cost more than the
  answer is worth: the results are the newest first (last update, then id),
  read from the candidate set when it is small (``set_limit``), else found by
  *walking* the tickets newest first and testing each, which stops as soon as
  the page is full.
* **Keyset paging.** A page continues after (or before) the sort key of a
  row of the page before it, carried in a cursor
  (:class:`~echodesk.store.searchquery.Cursor`), never at an offset: walking
  every page yields every result once, and a result is never moved by a
  window that grows with the page number.
* **Exact counts, within a time budget.** A candidate set is counted as it is
  read. A walked query is counted exactly when that is expected to fit in
  ``count_ms`` (and does: the count is stopped at the budget); otherwise the
  total is a lower bound (``Results.capped``: "N+"): the results before the
  page, and those among as many tickets from the page on as the budget lets
  be tested, never less than the page shows and one more when there is a
  next page. A walk that reaches the last ticket counts exactly, so an empty
  page says 0 only when nothing matches.
* Snippets are cut in Python from each page ticket's best message, the same
  way on both databases.

Merged tickets are never results: their messages live in the ticket they went into.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from echodesk.metrics import SEARCH_SECONDS
from echodesk.store.models import Message
from echodesk.store.searchindex import ID_TICKET_INDEX, words
from echodesk.store.searchquery import (
    NEWEST,
    RELEVANCE,
    Cursor,
    Query,
    SearchError,
    Term,
    day,
    decode_cursor,
    encode_cursor,
    fingerprint,
    parse,
    sla_window,
)
from echodesk.store.types import as_bound, utcnow


@dataclass(frozen=True)
class Budget:
    """What each database affords: the sizes that pick a plan, and what a row costs.

    The costs are measured on the benchmark's archives (``bench/search.py``) and
    only choose between plans that give the same answer.
    """

    rank_limit: int  # rows of the driving clause at most for the ranked order
    set_limit: int  # rows at most for a candidate set read whole (newest first)
    map_us: float  # microseconds to find the ticket of one matching message
    probe_us: float  # microseconds to test one ticket for one word
    set_ms: float  # a newest-first candidate set dearer than this is walked instead
    walk_ms: float  # a walk that has not filled its page by then reads the set instead
    count_ms: float  # time a count of a walked query may take


BUDGETS = {
    "sqlite": Budget(10_000, 30_000, 1.0, 75.0, 40.0, 40.0, 10.0),
    "postgresql": Budget(3_000, 15_000, 3.0, 15.0, 60.0, 60.0, 40.0),
}
ESTIMATE_CAP = 500_000  # SQLite counts a word's postings up to this many
TICKETS_PER_CUSTOMER = 4  # a guess, for sizing a customer's tickets on PostgreSQL
FEWEST_COUNTED = 100  # tickets a lower bound is counted among, whatever the budget
WALK_TICKETS = 1_000  # tickets a walk with no driving clause is taken to test
MARK_START, MARK_END = "\ue000", "\ue001"  # highlight markers in snippets
TEXT_KINDS = ("text", "subject", "from", "to")
_COLUMN = {"text": "", "subject": "subject", "from": "sender", "to": "recipients"}
_WEIGHT = {"subject": "A", "from": "C", "to": "D"}
_BM25 = "-bm25(message_fts, 8.0, 1.0, 2.0, 1.0)"  # subject 8, body 1, sender 2, recipients 1
_INF = float("inf")


@dataclass(frozen=True)
class Hit:
    ticket_id: int
    number: int
    subject: str
    status: str
    customer: str | None
    updated_at: datetime
    score: float
    message_pk: int | None
    snippet: str


@dataclass(frozen=True)
class Results:
    """A page of results: ``total`` is exact unless ``capped`` (then a lower bound)."""

    total: int
    hits: list[Hit]
    #: The total is a lower bound: counting every match would have cost too long.
    capped: bool = False
    #: How many results come before this page.
    position: int = 0
    #: Cursors of the pages after and before this one (None: there is none).
    next: str | None = None
    previous: str | None = None
    #: RELEVANCE (best match first) or NEWEST (every clause common: newest first).
    order: str = RELEVANCE


# -- SQL of one search ---------------------------------------------------------------------


class _Sql:
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

    def probe(self, expr: str) -> str:
        """Ticket ``t`` has a matching message, tested on its own messages alone."""
        if self.pg:
            # OFFSET 0 keeps this a test of each ticket's few messages: as a join,
            # PostgreSQL would first find every message with the word.
            return (
                "EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND "
                f"m.search_vector @@ to_tsquery('simple', {expr}) OFFSET 0)"
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
class _Part:
    """One term, made into SQL: its sets of tickets, its tests, its size."""

    term: Term
    expr: str = ""  # bound index expression (text kinds)
    named: list[tuple[str, str]] = field(default_factory=list)  # (set, condition) pairs
    condition: str = ""  # a filter as a condition on t
    tickets: str = ""  # a filter as a set of ticket ids
    rows: float = _INF  # matching messages plus named tickets, or tickets of a filter

    @property
    def text(self) -> bool:
        return self.term.kind in TEXT_KINDS

    def set_sql(self, sql: _Sql) -> list[str]:
        """The ticket ids this (positive) term selects, as SQL sets (UNION ALL them)."""
        if not self.text:
            return [self.tickets]
        return [sql.tickets_of(self.expr), *(s for s, _ in self.named)]

    def test(self, sql: _Sql, tickets: float) -> str:
        """This term as a condition on ``t``, for about ``tickets`` tickets to test."""
        if not self.text:
            return f"NOT ({self.condition})" if self.term.negated else f"({self.condition})"
        as_set = self.rows * sql.budget.map_us <= tickets * sql.budget.probe_us
        found = f"t.id IN ({sql.tickets_of(self.expr)})" if as_set else sql.probe(self.expr)
        if self.term.negated:  # no message of the ticket matches (names do not count)
            return f"NOT ({found})"
        return "(" + " OR ".join([found, *(c for _, c in self.named)]) + ")"


def _ticket_number(term: Term) -> int | None:
    tokens = term.tokens
    digits = tokens[-1] if tokens and tokens[-1].isdigit() and len(tokens) <= 2 else ""
    return int(digits) if digits and len(digits) <= 12 else None


def _names_customers(term: Term) -> bool:
    """Whether a term looks for customers: ``customer:``, or a positive free word."""
    if term.kind == "customer":
        return True
    return term.kind == "text" and not term.negated and len(term.raw) >= 3


def _named(sql: _Sql, term: Term) -> list[tuple[str, str]]:
    """The tickets a free word names: by number, tag, or customer address or name."""
    found = []
    number = _ticket_number(term)
    if number is not None:
        n = sql.bind(number)
        found.append((f"SELECT id FROM tickets WHERE number = {n}", f"t.number = {n}"))
    if term.raw and not term.prefix:
        tag = sql.bind(term.raw)
        found.append(
            (
                f"SELECT ticket_id FROM ticket_tags WHERE tag = {tag}",
                f"EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = {tag})",
            )
        )
    if _names_customers(term):
        found.append(sql.customers_tickets(term.raw))
    return found


def _part(sql: _Sql, term: Term) -> _Part:
    if term.kind == "customer":
        tickets, condition = sql.customers_tickets(term.raw)
        return _Part(term, condition=condition, tickets=tickets)
    if term.kind not in TEXT_KINDS:
        condition = _filter(sql, term)
        return _Part(term, condition=condition, tickets=_filter_set(sql, term, condition))
    part = _Part(term, expr=sql.bind(sql.expression(term)))
    if term.kind == "text" and not term.negated:
        part.named = _named(sql, term)
    return part


def _filter(sql: _Sql, term: Term) -> str:
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


def _filter_set(sql: _Sql, term: Term, condition: str) -> str:
    """A filter's tickets as a set, read from its own table where that is smaller."""
    inner = re.fullmatch(r"t\.id IN \((.*)\)", condition, re.S)
    if inner:  # tags, ratings, SLA rows
        return inner[1]
    if term.kind == "has":
        join = f"messages m INDEXED BY {ID_TICKET_INDEX}" if not sql.pg else "messages m"
        return f"SELECT m.ticket_id FROM attachments a JOIN {join} ON m.id = a.message_pk"
    return f"SELECT t.id FROM tickets t WHERE {condition}"


def _when(sql: _Sql, value: str) -> Any:
    return as_bound(sql.pg, day(value))


def _sla(sql: _Sql, value: str) -> str:
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


def _assignee(sql: _Sql, value: str) -> str:
    if value in ("none", "nobody"):
        return "t.assignee_id IS NULL"
    if value == "me":
        if not sql.me:
            raise SearchError("assignee:me needs to know who you are (sign in, or use --me)")
        return f"t.assignee_id IN (SELECT id FROM agents WHERE email = {sql.bind(sql.me.lower())})"
    return sql.member("t.assignee_id", sql.containing("agents", ("email", "name"), value))


# -- sizing -------------------------------------------------------------------------------


def _sized_sql(sql: _Sql, part: _Part) -> str:
    """The rows that size a term: its matching messages and the tickets it names, or the
    tickets a filter passes."""
    if not part.text:
        return part.tickets
    return " UNION ALL ".join([sql.postings(part.expr), *(s for s, _ in part.named)])


def _size(sql: _Sql, parts: Sequence[_Part]) -> None:
    """Each term's rows: counted on SQLite (up to ESTIMATE_CAP), estimated by
    PostgreSQL's planner from its statistics (a count would read every match); and
    how many messages there are, to tell a common word from a rare one."""
    newest = "SELECT max(id) FROM messages"
    if sql.pg:
        sql.messages = float(sql.session.execute(text(newest)).scalar() or 0)
        for part in parts:
            part.rows = _planned_rows(sql, part)
        return
    counts = [
        f"(SELECT count(*) FROM ({_sized_sql(sql, p)} LIMIT {ESTIMATE_CAP}) x)" for p in parts
    ]
    columns = ", ".join([f"({newest})", *counts])
    row = sql.session.execute(text(f"SELECT {columns}"), sql.params).one()
    sql.messages = float(row[0] or 0)
    for part, rows in zip(parts, row[1:], strict=True):
        part.rows = float(rows)


def _planned_rows(sql: _Sql, part: _Part) -> float:
    """PostgreSQL's estimate of a term's rows. A phrase or prefix is taken as its
    rarest word: the planner multiplies the words' frequencies as if they were
    unrelated, which makes "paper jam" look far rarer than it is. A word the
    statistics do not list gets one guess for all; when that guess is near the
    ranking limit, its matches are counted (up to just past the limit)."""
    if not part.text:
        return _explained(sql, part.tickets, sql.params)
    words: list[float] = []
    last = len(part.term.tokens) - 1
    for i, token in enumerate(part.term.tokens):
        query = f"{token}:*" if part.term.prefix and i == last else token
        words.append(
            _explained(
                sql,
                "SELECT 1 FROM messages WHERE search_vector @@ to_tsquery('simple', :w)",
                {"w": query},
            )
        )
    rows = min(words)
    if rows <= 4 * sql.budget.rank_limit:  # maybe rare enough to rank: count to be sure
        cap = sql.budget.rank_limit + 1
        counted = sql.session.execute(
            text(f"SELECT count(*) FROM ({sql.postings(part.expr)} LIMIT {cap}) x"), sql.params
        ).scalar_one()
        rows = float(counted) if counted < cap else max(rows, float(cap))
    return rows + sum(_explained(sql, s, sql.params) for s, _ in part.named)


def _explained(sql: _Sql, statement: str, params: dict[str, Any]) -> float:
    if statement in sql.guesses:
        return sql.guesses[statement]
    plan = sql.session.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params).scalar_one()
    found = json.loads(plan) if isinstance(plan, str) else plan
    return float(found[0]["Plan"]["Plan Rows"])


def _clause_rows(clause: Sequence[_Part]) -> float:
    """Rows a clause selects at most; infinite for one that cannot drive (a negation)."""
    if any(p.term.negated for p in clause):
        return _INF
    return sum(p.rows for p in clause)


# -- the plan -------------------------------------------------------------------------------


@dataclass
class _Plan:
    sql: _Sql
    query: Query
    clauses: list[list[_Part]]
    driver: int | None  # the clause whose tickets are the candidates (None: walk them all)
    rows: float  # the driving clause's rows
    order: str
    walk: bool  # test tickets newest first, rather than read the candidate set whole
    candidates: list[int] | None = None  # the driving clause's tickets, when read already

    @property
    def reads_set(self) -> bool:
        """Whether the driving clause's tickets are read as a set: when it has words."""
        return self.driver is not None and any(p.text for p in self.clauses[self.driver])

    @property
    def positive_text(self) -> list[_Part]:
        return [p for c in self.clauses for p in c if p.text and not p.term.negated]

    def scoring(self) -> list[Term]:
        """The words that rank: those found in at most ``rank_limit`` messages."""
        limit = self.sql.budget.rank_limit
        return [p.term for p in self.positive_text if p.rows <= limit]


def _plan(session: Session, query: Query, me: str | None, order: str | None) -> _Plan:
    sql = _Sql(session, me)
    sql.read_customers([t.raw for t in query.terms if _names_customers(t)])
    clauses = [[_part(sql, t) for t in clause] for clause in query.clauses]
    _size(sql, [p for c in clauses for p in c if p.text or not any(q.term.negated for q in c)])
    sizes = [_clause_rows(c) for c in clauses]
    driver = min(range(len(sizes)), key=sizes.__getitem__, default=None)
    rows = sizes[driver] if driver is not None else _INF
    if driver is not None and rows == _INF:
        driver = None
    ranks = bool(query.positive_text) and rows <= sql.budget.rank_limit
    chosen = order or (RELEVANCE if ranks else NEWEST)
    if chosen == RELEVANCE and driver is None:
        raise SearchError("this page link no longer fits this search: start the search again")
    plan = _Plan(sql, query, clauses, driver, rows, chosen, walk=False)
    if chosen == NEWEST:
        plan.walk = rows > sql.budget.set_limit or _set_cost_ms(plan) > sql.budget.set_ms
        uncertain = plan.reads_set and sql.pg and rows <= 4 * sql.budget.set_limit
        if plan.walk and uncertain and not any(p.term.phrase for p in clauses[driver or 0]):
            _read_candidates(plan)
    return plan


def _read_candidates(plan: _Plan) -> None:
    """PostgreSQL, when its estimate is not far above ``set_limit``: read the driving
    clause's tickets, up to just past the limit. Estimates of phrases and field terms
    are their words' (an upper bound); when the candidates are in fact few, the set
    is read (and the walk, which might test many tickets to find few, is not). A
    phrase is not read so: each message with its words would be checked for it."""
    sql = plan.sql
    assert plan.driver is not None
    cap = sql.budget.set_limit + 1
    sets = " UNION ALL ".join(s for p in plan.clauses[plan.driver] for s in p.set_sql(sql))
    found = sql.session.execute(text(f"SELECT * FROM ({sets}) x LIMIT {cap}"), sql.params).all()
    if len(found) < cap:  # all of them: tested as a set, whatever the other clauses cost
        plan.candidates = sorted({int(r[0]) for r in found})
        plan.rows = float(len(found))
        plan.walk = False


def _set_cost_ms(plan: _Plan) -> float:
    """What reading the candidate set whole and testing it would cost (estimated); with
    no driving clause, what testing every ticket's words as sets would."""
    budget = plan.sql.budget
    cost = 0.0
    if plan.driver is not None:  # a filter's tickets come from an index, cheaper by far
        cost = plan.rows * budget.map_us * (1.0 if plan.reads_set else 0.2)
    for i, clause in enumerate(plan.clauses):
        if i != plan.driver:
            cost += sum(
                min(p.rows * budget.map_us, plan.rows * budget.probe_us) if p.text else 0.0
                for p in clause
            )
    return cost / 1000


def _conditions(plan: _Plan, tickets: float, *, skip: int | None) -> str:
    """Every clause but ``skip`` (the driving one, when its set is read) as conditions
    on ``t``, live tickets only."""
    parts = ["t.merged_into_id IS NULL"]
    for i, clause in enumerate(plan.clauses):
        if i != skip:
            parts.append("(" + " OR ".join(p.test(plan.sql, tickets) for p in clause) + ")")
    return " AND ".join(parts)


def _hits_ctes(plan: _Plan, *, subject: bool = False) -> list[str]:
    """``hits``: the matching tickets (id, updated_at, and the subject if asked for),
    read from ``cand``, the driving clause's tickets, when words drive; filters alone
    are left to the database, which knows its indexes."""
    sql = plan.sql
    columns = "t.id, t.updated_at" + (", t.subject" if subject else "")
    if not plan.reads_set:
        where = _conditions(plan, plan.rows, skip=None)
        return [f"hits AS MATERIALIZED (SELECT {columns} FROM tickets t WHERE {where})"]
    assert plan.driver is not None
    sets = [s for p in plan.clauses[plan.driver] for s in p.set_sql(sql)]
    cand = " UNION ALL ".join(f"SELECT * FROM ({s}) s" for s in sets)
    if plan.candidates is not None:
        cand = f"SELECT t.id FROM tickets t WHERE {sql.member('t.id', plan.candidates)}"
    where = _conditions(plan, plan.rows, skip=plan.driver)
    return [
        f"cand AS MATERIALIZED ({cand})",
        f"hits AS MATERIALIZED (SELECT {columns} FROM tickets t "
        f"WHERE t.id IN (SELECT * FROM cand) AND {where})",
    ]


# -- keys and cursors -----------------------------------------------------------------------


def _updated_key(value: Any) -> str:
    """A ticket's last update as a key: SQLite's own text, PostgreSQL's moment in ISO form."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)


def _updated_bound(pg: bool, key: str) -> Any:
    if not pg:
        return key
    try:
        return datetime.fromisoformat(key)
    except ValueError:
        raise SearchError("this page link is damaged: start the search again") from None


@dataclass
class _Page:
    keys: list[tuple[Any, ...]]  # sort keys of the page's rows, in order
    ids: list[int]
    position: int
    more_after: bool
    more_before: bool
    total: int
    exact: bool
    scores: dict[int, tuple[float, int | None]] = field(default_factory=dict)


def _cursors(plan: _Plan, page: _Page) -> tuple[str | None, str | None]:
    query = fingerprint(plan.query)
    after = before = None
    if page.keys and page.more_after:
        at = Cursor(plan.order, True, page.keys[-1], page.position + len(page.keys), query)
        after = encode_cursor(at)
    if page.keys and page.more_before:
        before = encode_cursor(Cursor(plan.order, False, page.keys[0], page.position, query))
    return after, before


# -- the ranked order -----------------------------------------------------------------------


def _subject_pattern(wanted: str) -> str:
    """A LIKE pattern every subject whose words are ``wanted`` fits (and a few more):
    each word's ASCII letters in order; others may have been written in either case."""
    pieces = [re.sub(r"[^\x00-\x7f]+", "%", token) for token in wanted.split()]
    return "%" + "%".join(pieces) + "%"


def _ranked_rows(plan: _Plan) -> list[tuple[tuple[Any, ...], float, int | None]]:
    """Every hit with its sort key (exact, score, updated, id), best first; score; best."""
    sql = plan.sql
    ctes = _hits_ctes(plan, subject=True)
    scoring = plan.scoring()
    score_cols = "NULL, NULL"
    if scoring:
        ctes += sql.score_ctes(sql.bind(sql.union(scoring)))
        score_cols = "s.score, s.best"
    wanted = " ".join(t.value for t in plan.query.positive_text)
    subject = "NULL"
    if wanted:
        like = "ILIKE" if sql.pg else "LIKE"
        pattern = sql.bind(_subject_pattern(wanted))
        subject = f"CASE WHEN h.subject {like} {pattern} THEN h.subject END"
    joined = "LEFT JOIN sc s ON s.tid = h.id" if scoring else ""
    statement = (
        f"{sql.with_ctes(*ctes)}SELECT h.id, h.updated_at, {subject}, {score_cols} "
        f"FROM hits h {joined}"
    )
    found = []
    for tid, updated, subj, score, best in sql.session.execute(text(statement), sql.params):
        exact = 1 if subj is not None and words(subj) == wanted else 0
        value = float(score or 0.0)
        found.append(((exact, value, _updated_key(updated), int(tid)), value, best))
    found.sort(key=lambda r: r[0], reverse=True)
    return found


def _ranked_page(plan: _Plan, at: Cursor | None, limit: int) -> _Page:
    rows = _ranked_rows(plan)
    keys = [r[0] for r in rows]
    if at is None:
        start = 0
    elif at.forward:
        start = next((i for i, k in enumerate(keys) if k < at.key), len(keys))
    else:
        end = next((i for i, k in enumerate(keys) if k <= at.key), len(keys))
        start = max(0, end - limit)
    chosen = rows[start : start + limit]
    page = _Page(
        keys=[r[0] for r in chosen],
        ids=[r[0][3] for r in chosen],
        position=start,
        more_after=start + limit < len(rows),
        more_before=start > 0,
        total=len(rows),
        exact=True,
    )
    page.scores = {r[0][3]: (r[1], r[2]) for r in chosen}
    return page


# -- the newest-first order -----------------------------------------------------------------


def _keyset(sql: _Sql, key: tuple[Any, ...] | None, forward: bool, table: str) -> tuple[str, str]:
    """The condition after (``forward``) or before a (updated, id) key, and the order
    to read in (newest first, or oldest first when reading backwards)."""
    columns = f"{table}updated_at, {table}id"
    order = f"{table}updated_at DESC, {table}id DESC" if forward else columns
    if key is None:
        return "1 = 1", order
    updated, ident = sql.bind(_updated_bound(sql.pg, key[0])), sql.bind(key[1])
    return f"({columns}) {'<' if forward else '>'} ({updated}, {ident})", order


def _newest_page(plan: _Plan, at: Cursor | None, limit: int) -> _Page:
    forward = at is None or at.forward
    rows = _newest_rows(plan, at, limit)
    more = len(rows) > limit  # beyond the page, in the direction read
    rows = rows[:limit] if forward else rows[:limit][::-1]
    keys = [(_updated_key(r[1]), int(r[0])) for r in rows]
    if at is None or at.forward:
        position = at.position if at is not None else 0
        after, before = more, position > 0
    else:
        position, after, before = (max(0, at.position - len(keys)) if more else 0), True, more
    page = _Page(keys, [k[1] for k in keys], position, after, before, 0, True)
    page.total, page.exact = _newest_total(plan, rows, page)
    return page


def _newest_rows(plan: _Plan, at: Cursor | None, limit: int) -> list[Any]:
    """Up to ``limit + 1`` rows (id, updated_at, total or None) after or before the
    cursor, in the order read: walked in growing chunks while words are tested and
    that pays, else read from the candidate set (the total with them)."""
    sql = plan.sql
    forward = at is None or at.forward
    key = at.key if at is not None else None
    words_tested = any(p.text for c in plan.clauses for p in c)
    if plan.walk and words_tested:
        walked = _walk(plan, key, forward, limit)
        if walked is not None:
            return walked
        plan.walk = False  # too few matches among the newest: read them all as a set
    keyset, order = _keyset(sql, key, forward, "t." if plan.walk else "")
    if plan.walk:
        where = _conditions(plan, _walked(plan, limit), skip=None)
        statement = (
            f"SELECT t.id, t.updated_at, NULL FROM tickets t "
            f"WHERE {where} AND {keyset} ORDER BY {order} LIMIT {limit + 1}"
        )
    else:
        statement = (
            f"{sql.with_ctes(*_hits_ctes(plan))}SELECT id, updated_at, "
            f"(SELECT count(*) FROM hits) FROM hits WHERE {keyset} ORDER BY {order} "
            f"LIMIT {limit + 1}"
        )
    return list(sql.session.execute(text(statement), sql.params))


def _walk(plan: _Plan, key: tuple[Any, ...] | None, forward: bool, limit: int) -> list[Any] | None:
    """Walk the tickets from ``key`` a stretch at a time (each four times the one before),
    testing each, until ``limit + 1`` match or none are left; None once ``walk_ms`` has
    passed first, as a walk through a sparse result costs more than its set. Each
    stretch is read in order and left as soon as the page is full."""
    sql = plan.sql
    tickets = _walked(plan, limit)
    where = _conditions(plan, tickets, skip=None)
    tests = sum(1 for c in plan.clauses for p in c if p.text)
    affordable = sql.budget.walk_ms * 1000 / (4 * sql.budget.probe_us * tests)
    chunk = max(8 * (limit + 1), int(min(2 * tickets, affordable)))
    ends = time.perf_counter() + sql.budget.walk_ms / 1000
    found: list[Any] = []
    while True:
        keyset, order = _keyset(sql, key, forward, "t.")
        edge = sql.session.execute(
            text(
                f"SELECT t.updated_at, t.id FROM tickets t WHERE t.merged_into_id IS NULL "
                f"AND {keyset} ORDER BY {order} LIMIT 1 OFFSET {chunk - 1}"
            ),
            sql.params,
        ).first()
        within = ""
        if edge is not None:  # this stretch ends at the edge (taken in)
            last = sql.bind(_updated_bound(sql.pg, _updated_key(edge[0]))), sql.bind(edge[1])
            within = f"AND (t.updated_at, t.id) {'>=' if forward else '<='} ({last[0]}, {last[1]})"
        statement = (
            f"SELECT t.id, t.updated_at, NULL FROM tickets t WHERE {where} AND {keyset} "
            f"{within} ORDER BY {order} LIMIT {limit + 1 - len(found)}"
        )
        found += list(sql.session.execute(text(statement), sql.params))
        if len(found) > limit or edge is None:
            return found
        if time.perf_counter() > ends:
            return None
        key, chunk = (_updated_key(edge[0]), int(edge[1])), chunk * 4


def _walked(plan: _Plan, limit: int) -> float:
    """About how many tickets a walk tests to fill a page: as many as it takes to
    meet ``limit`` of the driving clause's, spread over every message."""
    if plan.driver is None or not plan.rows:
        return WALK_TICKETS
    return (limit + 1) * max(1.0, plan.sql.messages / plan.rows)


def _newest_total(plan: _Plan, rows: list[Any], page: _Page) -> tuple[int, bool]:
    """The total of a newest-first page: read with a candidate set; else counted within
    the budget; else a lower bound: the results before the page and those among as
    many tickets from the page's first as the budget lets be tested (exact when
    that reaches the oldest ticket), or at least the page and one more."""
    if not plan.walk:
        if rows:
            return int(rows[0][2]), True
        return _count(plan, None) or 0, True
    if not page.ids:  # nothing after the cursor: the results before it are all
        return page.position, True
    if not page.more_after:  # the last page
        return page.position + len(page.ids), True
    budget = plan.sql.budget.count_ms
    if _worth_counting(plan):
        counted = _count(plan, budget)
        if counted is not None:
            return counted, True
        budget /= 2  # half as much again, at most, for the lower bound
    shown = page.position + len(page.ids) + (1 if page.more_after else 0)
    found = _count_from(plan, page.keys[0], budget)
    if found is None:
        return shown, not page.more_after
    matched, complete = found
    return max(shown, page.position + matched), complete


def _count_from(plan: _Plan, first: tuple[Any, ...], budget_ms: float) -> tuple[int, bool] | None:
    """The results among the tickets a budget lets be tested, newest first from the
    page's first row; and whether those were all there are. None if it ran out."""
    sql = plan.sql
    tests = sum(1 for c in plan.clauses for p in c if p.text) or 1
    affordable = int(budget_ms * 1000 / (sql.budget.probe_us * tests))
    if affordable < FEWEST_COUNTED and FEWEST_COUNTED > 1:  # not worth the time it takes
        return None
    tickets = max(FEWEST_COUNTED, affordable)
    updated, ident = sql.bind(_updated_bound(sql.pg, first[0])), sql.bind(first[1])
    where = _conditions(plan, tickets, skip=None)
    walked = (
        "w AS MATERIALIZED (SELECT t.id FROM tickets t WHERE t.merged_into_id IS NULL AND "
        f"(t.updated_at, t.id) <= ({updated}, {ident}) "
        f"ORDER BY t.updated_at DESC, t.id DESC LIMIT {tickets})"
    )
    statement = text(
        f"{sql.with_ctes(walked)}SELECT (SELECT count(*) FROM w), count(*) FROM tickets t "
        f"WHERE t.id IN (SELECT id FROM w) AND {where}"
    )
    try:
        seen, matched = _within(sql, statement, budget_ms).one()
    except _OutOfTime:
        return None
    return int(matched), int(seen) < tickets


def _worth_counting(plan: _Plan) -> bool:
    """Whether an exact count may fit in the budget (one far beyond it is not tried)."""
    return _set_cost_ms(plan) <= plan.sql.budget.count_ms


def _count(plan: _Plan, budget_ms: float | None) -> int | None:
    """Every hit counted (None when ``budget_ms`` ran out first)."""
    sql = plan.sql
    statement = text(f"{sql.with_ctes(*_hits_ctes(plan))}SELECT count(*) FROM hits")
    if budget_ms is None:
        return int(sql.session.execute(statement, sql.params).scalar_one())
    try:
        return int(_within(sql, statement, budget_ms).scalar_one())
    except _OutOfTime:
        return None


class _OutOfTime(Exception):
    """A statement given a time budget did not finish within it."""


def _within(sql: _Sql, statement: Any, budget_ms: float) -> Any:
    """The result of a statement that may take at most ``budget_ms`` (fetched whole);
    _OutOfTime if it takes longer."""
    try:
        if sql.pg:
            return _within_pg(sql, statement, budget_ms)
        return _within_sqlite(sql, statement, budget_ms)
    except DBAPIError as exc:
        cancelled = getattr(exc.orig, "sqlstate", "") == "57014"  # query_canceled
        if cancelled or "interrupted" in str(exc.orig):
            raise _OutOfTime from exc
        raise


def _within_pg(sql: _Sql, statement: Any, budget_ms: float) -> Any:
    """PostgreSQL: a statement timeout, set in a savepoint (a cancelled statement rolls
    back only the savepoint, and the timeout with it)."""
    session = sql.session
    before = session.execute(text("SELECT current_setting('statement_timeout')")).scalar_one()
    with session.begin_nested():
        setting = text("SELECT set_config('statement_timeout', :value, true)")
        session.execute(setting, {"value": f"{max(1, int(budget_ms))}ms"})
        found = session.execute(statement, sql.params).all()
        session.execute(setting, {"value": before})
    return _Rows(found)


def _within_sqlite(sql: _Sql, statement: Any, budget_ms: float) -> Any:
    """SQLite: the progress handler interrupts the statement once the budget is spent."""
    raw = sql.session.connection().connection.dbapi_connection
    assert raw is not None
    ends = time.perf_counter() + budget_ms / 1000
    raw.set_progress_handler(lambda: int(time.perf_counter() > ends), 2000)
    try:
        return _Rows(sql.session.execute(statement, sql.params).all())
    finally:
        raw.set_progress_handler(None, 0)


@dataclass
class _Rows:
    rows: Sequence[Any]

    def one(self) -> Any:
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.rows[0][0]


# -- the search -------------------------------------------------------------------------------


def search(
    session: Session,
    query: str | Query,
    *,
    limit: int = 20,
    cursor: str | None = None,
    me: str | None = None,
) -> Results:
    """A page of the tickets matching the query (see the module docstring); ``cursor``
    continues from a page before (``Results.next`` or ``Results.previous``)."""
    with SEARCH_SECONDS.time():
        return _search(session, query, limit=max(1, limit), cursor=cursor, me=me)


def _search(
    session: Session, query: str | Query, *, limit: int, cursor: str | None, me: str | None
) -> Results:
    parsed = parse(query) if isinstance(query, str) else query
    at = decode_cursor(cursor, parsed) if cursor else None
    plan = _plan(session, parsed, me, at.order if at is not None else None)
    page = (
        _ranked_page(plan, at, limit) if plan.order == RELEVANCE else _newest_page(plan, at, limit)
    )
    after, before = _cursors(plan, page)
    return Results(
        total=max(page.total, page.position + len(page.ids)),
        hits=_hits(plan, page),
        capped=not page.exact,
        position=page.position,
        next=after,
        previous=before,
        order=plan.order,
    )


def _hits(plan: _Plan, page: _Page) -> list[Hit]:
    """The page's tickets, each with a snippet of its best message."""
    if not page.ids:
        return []
    sql = plan.sql
    rows = sql.session.execute(
        text(
            "SELECT t.id, t.number, t.subject, t.status, c.email, t.updated_at FROM tickets t "
            "LEFT JOIN customers c ON c.id = t.customer_id WHERE t.id IN "
            f"({', '.join(str(i) for i in page.ids)})"
        )
    )
    found = {r[0]: r for r in rows}
    best = {tid: b for tid, (_, b) in page.scores.items() if b is not None}
    best.update(_newest_matching(plan, [i for i in page.ids if i not in best]))
    snippets = _snippets(sql.session, plan.query, list(best.values()))
    hits = []
    for tid in page.ids:
        r = found[tid]
        mid = best.get(tid)
        hits.append(
            Hit(
                ticket_id=tid,
                number=r[1],
                subject=r[2],
                status=r[3],
                customer=r[4],
                updated_at=_aware(r[5]),
                score=page.scores.get(tid, (0.0, None))[0],
                message_pk=mid,
                snippet=snippets.get(mid, "") if mid is not None else "",
            )
        )
    return hits


def _newest_matching(plan: _Plan, ids: list[int]) -> dict[int, int]:
    """For tickets without a scored message: the newest message whose text shows one
    of the query's words (as the snippet marks them), else the newest message.
    Read for the page's tickets alone, and tested in Python: the index would be
    asked once per message."""
    tokens = [tok for t in plan.query.positive_text for tok in t.tokens]
    if not ids or not tokens:
        return {}
    found: dict[int, int] = {}
    marked: set[int] = set()
    rows = plan.sql.session.execute(
        text(
            "SELECT ticket_id, id, subject, body_text FROM messages WHERE ticket_id IN "
            f"({', '.join(str(i) for i in ids)}) ORDER BY id DESC"
        )
    )
    for tid, mid, subject, body in rows:
        if tid in marked:
            continue
        found.setdefault(tid, mid)
        if MARK_START in _best_snippet(subject or "", body or "", tokens):
            found[tid] = mid
            marked.add(tid)
    return found


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through a raw text query
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _snippets(session: Session, query: Query, message_pks: list[int]) -> dict[int, str]:
    if not message_pks:
        return {}
    found = session.query(Message.id, Message.subject, Message.body_text).filter(
        Message.id.in_(message_pks)
    )
    tokens = [tok for t in query.positive_text for tok in t.tokens]
    return {pk: _best_snippet(subject or "", body or "", tokens) for pk, subject, body in found}


def _best_snippet(subject: str, body: str, tokens: list[str]) -> str:
    """From the body where the words are, else the subject where they are, else the body."""
    for source in (body, subject):
        shown = snippet(source, tokens)
        if MARK_START in shown:
            return shown
    return snippet(body or subject, tokens)


def snippet(body: str, tokens: list[str], width: int = 160) -> str:
    """About ``width`` characters of ``body`` around the first query word, words marked."""
    flat = " ".join(body.split())
    if not tokens:
        return flat[:width]
    alternatives = "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
    pattern = re.compile(r"(?<!\w)(" + alternatives + r")\w*", re.IGNORECASE)
    first = pattern.search(flat)
    start = max(0, (first.start() if first else 0) - width // 3)
    piece = flat[start : start + width]
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", piece)
    return ("…" if start else "") + marked + ("…" if start + width < len(flat) else "")
