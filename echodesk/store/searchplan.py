"""How a search is answered: each term sized, the driving clause chosen, the order picked.

:mod:`echodesk.store.search` answers a parsed query; this module plans it, from
the terms made into SQL by :mod:`echodesk.store.searchterms`, and writes the
SQL of its matching tickets (``hits``) that :mod:`echodesk.store.searchpages`
pages through.

**Plan from the rarest clause.** Every word, phrase and field term is first
sized: how many messages the index holds for it (SQLite counts its FTS5
postings, which costs a few microseconds a thousand; PostgreSQL asks its
planner, whose statistics know each common word's frequency, and counts a word
they do not list when it may be rare enough to rank). Ticket filters are sized
the same way. The clause with the fewest rows (a clause of ORed terms can drive
if none of them is negated) *drives*: its tickets are the candidates, every
other clause, negation and filter is tested on them, in SQL, each either as a
set (all tickets with a word: cheap for a rare word) or ticket by ticket (cheap
for few candidates), whichever costs less. A filter drives by leaving the plan
to the database, which knows its indexes.

The plan also picks the order (see :mod:`echodesk.store.searchpages`): ranked
when the query has words and its driving clause has at most ``rank_limit``
rows, else newest first, read from the candidate set when it is small
(``set_limit``) and cheap enough, else walked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.store.searchquery import NEWEST, RELEVANCE, Query, SearchError, Term
from echodesk.store.searchterms import INF, Part, Sql, names_customers, part, union

ESTIMATE_CAP = 500_000  # SQLite counts a word's postings up to this many


# -- sizing -------------------------------------------------------------------------------


def _sized_sql(sql: Sql, part: Part) -> str:
    """The rows that size a term: its matching messages and the tickets it names, or the
    tickets a filter passes."""
    if not part.text:
        return part.tickets
    return " UNION ALL ".join([sql.postings(part.expr), *(s for s, _ in part.named)])


def _size(sql: Sql, parts: Sequence[Part]) -> None:
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


def _planned_rows(sql: Sql, part: Part) -> float:
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


def _explained(sql: Sql, statement: str, params: dict[str, Any]) -> float:
    if statement in sql.guesses:
        return sql.guesses[statement]
    plan = sql.session.execute(text(f"EXPLAIN (FORMAT JSON) {statement}"), params).scalar_one()
    found = json.loads(plan) if isinstance(plan, str) else plan
    return float(found[0]["Plan"]["Plan Rows"])


def _clause_rows(clause: Sequence[Part]) -> float:
    """Rows a clause selects at most; infinite for one that cannot drive (a negation)."""
    if any(p.term.negated for p in clause):
        return INF
    return sum(p.rows for p in clause)


# -- the plan -------------------------------------------------------------------------------


@dataclass
class Plan:
    sql: Sql
    query: Query
    clauses: list[list[Part]]
    driver: int | None  # the clause whose tickets are the candidates (None: walk them all)
    rows: float  # the driving clause's rows
    order: str
    walk: bool  # test tickets newest first, rather than read the candidate set whole
    candidates: list[int] | None = None  # the driving clause's tickets, when read already
    held: list[int] = field(default_factory=list)  # clauses every candidate is known to meet

    @property
    def reads_set(self) -> bool:
        """Whether the driving clause's tickets are read as a set: when it has words."""
        return self.driver is not None and any(p.text for p in self.clauses[self.driver])

    @property
    def positive_text(self) -> list[Part]:
        return [p for c in self.clauses for p in c if p.text and not p.term.negated]

    def scoring(self) -> list[Term]:
        """The words that rank: those found in at most ``rank_limit`` messages."""
        limit = self.sql.budget.rank_limit
        return [p.term for p in self.positive_text if p.rows <= limit]


def plan(session: Session, query: Query, me: str | None, order: str | None) -> Plan:
    sql = Sql(session, me)
    sql.read_customers([t.raw for t in query.terms if names_customers(t)])
    clauses = [[part(sql, t) for t in clause] for clause in query.clauses]
    _size(sql, [p for c in clauses for p in c if p.text or not any(q.term.negated for q in c)])
    sizes = [_clause_rows(c) for c in clauses]
    driver = min(range(len(sizes)), key=sizes.__getitem__, default=None)
    rows = sizes[driver] if driver is not None else INF
    if driver is not None and rows == INF:
        driver = None
    ranks = bool(query.positive_text) and rows <= sql.budget.rank_limit
    chosen = order or (RELEVANCE if ranks else NEWEST)
    if chosen == RELEVANCE and driver is None:
        raise SearchError("this page link no longer fits this search: start the search again")
    plan = Plan(sql, query, clauses, driver, rows, chosen, walk=False)
    if chosen == NEWEST:
        plan.walk = rows > sql.budget.set_limit or set_cost_ms(plan) > sql.budget.set_ms
        if plan.walk and plan.reads_set and sql.pg:
            _read_candidates(plan)
    return plan


def _read_candidates(plan: Plan) -> None:
    """PostgreSQL, before a walk (which might test many tickets to find few): read the
    candidates whole when they are in fact few.

    Every clause of positive words at once, from each ticket's words
    (``ticket_words``, which intersects them itself): two common words seldom in
    one ticket, or a word and a sender, are few tickets there. A clause whose
    every term is one plain word (exact in a ticket's words) holds for every
    candidate, unless some ticket's words were too many to keep; the other
    clauses are tested on each candidate. At most ``word_limit`` are read (each
    candidate's update is read to order them), and none when PostgreSQL's
    statistics of the tickets' words expect far more. Otherwise, the driving
    clause's own tickets when its estimate is not far above ``set_limit``
    (estimates of field terms are their words': an upper bound). A phrase is not
    read so: each message with its words would be checked for it."""
    sql = plan.sql
    assert plan.driver is not None
    clauses = plan.clauses
    worded = [i for i, c in enumerate(clauses) if all(p.text and not p.term.negated for p in c)]
    exact = [i for i in worded if all(p.exact for p in clauses[i])]
    limit = sql.budget.word_limit
    found, expected = _worded_tickets(sql, [clauses[i] for i in worded], limit)
    if found is not None and (len(worded) > 1 or exact):
        unknown = "SELECT ticket_id FROM ticket_words WHERE words IS NULL"
        if _take(plan, [*found, unknown], limit):
            plan.held = [] if _any_unkept(plan.sql, unknown) else exact
        return
    if max(plan.rows / 4, expected) > sql.budget.set_limit:
        return  # more tickets have the words than the set may hold
    if not any(p.term.phrase for p in plan.clauses[plan.driver]):
        sets = " UNION ALL ".join(s for p in plan.clauses[plan.driver] for s in p.set_sql(sql))
        if _take(plan, [sets], sql.budget.set_limit):
            plan.held = [plan.driver]


def _take(plan: Plan, sets: Sequence[str], limit: int) -> bool:
    """The tickets of these sets as the candidates, read one set after the other,
    unless they have more than ``limit`` rows (each read stops just past it)."""
    sql = plan.sql
    found: set[int] = set()
    for one in sets:
        statement = text(f"SELECT * FROM ({one}) x LIMIT {limit + 1}")
        rows = sql.session.execute(statement, sql.params).all()
        found.update(int(r[0]) for r in rows)
        if len(rows) > limit or len(found) > limit:
            return False
    plan.candidates = sorted(found)
    plan.rows = float(len(found))
    plan.walk = False
    plan.held = []
    return True


def _any_unkept(sql: Sql, unknown: str) -> bool:
    """Whether some ticket's words are not kept (too many): it was read among the
    candidates, which then are tested for every clause."""
    return sql.session.execute(text(f"{unknown} LIMIT 1")).first() is not None


def _worded_tickets(
    sql: Sql, clauses: Sequence[Sequence[Part]], limit: int
) -> tuple[list[str] | None, float]:
    """SQL of the sets of tickets that may match every clause: those whose words hold
    each clause's words (a phrase or a field taken as its words: more, never fewer),
    and those a clause's word names (a tag, a customer, a number) whose words hold
    the other clauses' (for each set of such clauses, the tickets named by all of
    it). None when a term has no words, when more than two clauses name tickets
    (four sets at most), or when PostgreSQL expects the first set to be more than
    twice ``limit``; and how many tickets it expects to have every clause's words
    (infinite when not asked)."""
    queries: list[str] = []  # each clause as a tsquery of a ticket's words
    named: list[list[str]] = []
    if not clauses or not all(p.term.tokens for c in clauses for p in c):
        return None, INF
    for clause in clauses:
        queries.append(" || ".join(p.ticket_query(sql) for p in clause))
        named.append([s for p in clause for s, _ in p.named if s != p.tag_set])
    naming = [i for i, sets in enumerate(named) if sets]
    if len(naming) > 2:
        return None, INF
    branches = []
    expected = INF
    for chosen in _subsets(naming):
        sets = [union(named[i]) for i in chosen]
        rest = [queries[i] for i in range(len(clauses)) if i not in chosen]
        if not rest:
            tests = " AND ".join(f"w.ticket_id IN ({n})" for n in sets)
            branches.append(f"SELECT w.ticket_id FROM ticket_words w WHERE {tests}")
            continue
        matched = "w.words @@ (" + " && ".join(f"({h})" for h in rest) + ")"
        having = f"SELECT w.ticket_id FROM ticket_words w WHERE {matched}"
        rows = _explained(sql, having, sql.params)
        few = rows <= 2 * limit
        if not chosen:
            expected = rows
            if not few:
                return None, expected  # far more than the limit
        # A few tickets with the words are intersected with the named ones whole (the
        # planner cannot size a union of named sets, and would look each one up).
        tests = " AND ".join(f"w.ticket_id IN ({n})" for n in sets)
        branches.append(
            " INTERSECT ".join(f"({one})" for one in [having, *sets])
            if few
            else f"{having} AND {tests}"
        )
    return branches, expected


def _subsets(items: Sequence[int]) -> list[list[int]]:
    found: list[list[int]] = [[]]
    for item in items:
        found += [[*s, item] for s in found]
    return found


def set_cost_ms(plan: Plan) -> float:
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


def conditions(plan: Plan, tickets: float, *, skip: Sequence[int] = ()) -> str:
    """Every clause but those in ``skip`` (met by every candidate read) as conditions
    on ``t``, live tickets only."""
    parts = ["t.merged_into_id IS NULL"]
    sql = plan.sql
    for i, clause in enumerate(plan.clauses):
        if i in skip:
            continue
        if len(clause) > 1 and all(p.as_set(sql, tickets) and not p.term.negated for p in clause):
            # ORed sets as one IN over their union (see Part.test: no sub-select in OR)
            sets = union(s for p in clause for s in p.set_sql(sql))
            parts.append(f"t.id IN ({sets})")
            continue
        parts.append("(" + " OR ".join(p.test(sql, tickets) for p in clause) + ")")
    return " AND ".join(parts)


def hits_ctes(plan: Plan, *, subject: bool = False) -> list[str]:
    """``hits``: the matching tickets (id, updated_at, and the subject if asked for),
    read from ``cand``, the driving clause's tickets, when words drive; filters alone
    are left to the database, which knows its indexes."""
    sql = plan.sql
    columns = "t.id, t.updated_at" + (", t.subject" if subject else "")
    if not plan.reads_set:
        where = conditions(plan, plan.rows)
        return [f"hits AS MATERIALIZED (SELECT {columns} FROM tickets t WHERE {where})"]
    assert plan.driver is not None
    sets = [s for p in plan.clauses[plan.driver] for s in p.set_sql(sql)]
    cand = union(sets)
    held = [plan.driver]
    if plan.candidates is not None:
        cand = f"SELECT t.id FROM tickets t WHERE {sql.member('t.id', plan.candidates)}"
        held = plan.held
    where = conditions(plan, plan.rows, skip=held)
    return [
        f"cand AS MATERIALIZED ({cand})",
        f"hits AS MATERIALIZED (SELECT {columns} FROM tickets t "
        f"WHERE t.id IN (SELECT * FROM cand) AND {where})",
    ]
