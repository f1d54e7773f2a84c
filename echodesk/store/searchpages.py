"""A page of a planned search: its rows in a total order, its cursors and its total.

:mod:`echodesk.store.searchplan` plans a search and writes its matching
tickets as SQL; this module reads one page of them, in the order the plan
picked, and counts them:

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
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from echodesk.store.searchindex import words
from echodesk.store.searchplan import Plan, conditions, hits_ctes, set_cost_ms
from echodesk.store.searchquery import Cursor, SearchError, encode_cursor, fingerprint
from echodesk.store.searchterms import Sql

FEWEST_COUNTED = 100  # tickets a lower bound is counted among, whatever the budget
WALK_TICKETS = 1_000  # tickets a walk with no driving clause is taken to test


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
class Page:
    keys: list[tuple[Any, ...]]  # sort keys of the page's rows, in order
    ids: list[int]
    position: int
    more_after: bool
    more_before: bool
    total: int
    exact: bool
    scores: dict[int, tuple[float, int | None]] = field(default_factory=dict)


def cursors(plan: Plan, page: Page) -> tuple[str | None, str | None]:
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


def _ranked_rows(plan: Plan) -> list[tuple[tuple[Any, ...], float, int | None]]:
    """Every hit with its sort key (exact, score, updated, id), best first; score; best."""
    sql = plan.sql
    ctes = hits_ctes(plan, subject=True)
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
    # Fetched whole (one call) rather than row by row: a ranked set may be thousands.
    for tid, updated, subj, score, best in sql.session.execute(text(statement), sql.params).all():
        exact = 1 if subj is not None and words(subj) == wanted else 0
        value = float(score or 0.0)
        found.append(((exact, value, _updated_key(updated), int(tid)), value, best))
    found.sort(key=lambda r: r[0], reverse=True)
    return found


def ranked_page(plan: Plan, at: Cursor | None, limit: int) -> Page:
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
    page = Page(
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


def _keyset(sql: Sql, key: tuple[Any, ...] | None, forward: bool, table: str) -> tuple[str, str]:
    """The condition after (``forward``) or before a (updated, id) key, and the order
    to read in (newest first, or oldest first when reading backwards)."""
    columns = f"{table}updated_at, {table}id"
    order = f"{table}updated_at DESC, {table}id DESC" if forward else columns
    if key is None:
        return "1 = 1", order
    updated, ident = sql.bind(_updated_bound(sql.pg, key[0])), sql.bind(key[1])
    return f"({columns}) {'<' if forward else '>'} ({updated}, {ident})", order


def newest_page(plan: Plan, at: Cursor | None, limit: int) -> Page:
    forward = at is None or at.forward
    rows, counted = _newest_rows(plan, at, limit)
    more = len(rows) > limit  # beyond the page, in the direction read
    rows = rows[:limit] if forward else rows[:limit][::-1]
    keys = [(_updated_key(r[1]), int(r[0])) for r in rows]
    if at is None or at.forward:
        position = at.position if at is not None else 0
        after, before = more, position > 0
    else:
        position, after, before = (max(0, at.position - len(keys)) if more else 0), True, more
    page = Page(keys, [k[1] for k in keys], position, after, before, 0, True)
    page.total, page.exact = _newest_total(plan, counted, page)
    return page


def _newest_rows(plan: Plan, at: Cursor | None, limit: int) -> tuple[list[Any], int | None]:
    """Up to ``limit + 1`` rows (id, updated_at) after or before the cursor, in the
    order read: walked in growing chunks while words are tested and that pays, else
    read from the candidate set, counted in the same statement (the total, else None)."""
    sql = plan.sql
    forward = at is None or at.forward
    key = at.key if at is not None else None
    words_tested = any(p.text for c in plan.clauses for p in c)
    if plan.walk and words_tested:
        walked = _walk(plan, key, forward, limit)
        if walked is not None:
            return walked, None
        plan.walk = False  # too few matches among the newest: read them all as a set
    keyset, order = _keyset(sql, key, forward, "t.")
    if plan.walk:
        where = conditions(plan, _walked(plan, limit))
        statement = (
            f"SELECT t.id, t.updated_at FROM tickets t "
            f"WHERE {where} AND {keyset} ORDER BY {order} LIMIT {limit + 1}"
        )
        return list(sql.session.execute(text(statement), sql.params)), None
    # The count is the statement's one row, the page joined to it (none on an empty
    # page): the hits are read once, for both.
    statement = (
        f"{sql.with_ctes(*hits_ctes(plan))}SELECT p.id, p.updated_at, n.total FROM "
        "(SELECT count(*) AS total FROM hits) n LEFT JOIN (SELECT t.id, t.updated_at "
        f"FROM hits t WHERE {keyset} ORDER BY {order} LIMIT {limit + 1}) p ON 1 = 1 "
        f"ORDER BY {order.replace('t.', 'p.')}"
    )
    found = list(sql.session.execute(text(statement), sql.params))
    return [r[:2] for r in found if r[0] is not None], int(found[0][2])


def _walk(plan: Plan, key: tuple[Any, ...] | None, forward: bool, limit: int) -> list[Any] | None:
    """Walk the tickets from ``key`` a stretch at a time (each four times the one before),
    testing each, until ``limit + 1`` match or none are left; None once ``walk_ms`` has
    passed first, as a walk through a sparse result costs more than its set. Each
    stretch is read in order and left as soon as the page is full."""
    sql = plan.sql
    tickets = _walked(plan, limit)
    where = conditions(plan, tickets)
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
            f"SELECT t.id, t.updated_at FROM tickets t WHERE {where} AND {keyset} "
            f"{within} ORDER BY {order} LIMIT {limit + 1 - len(found)}"
        )
        found += list(sql.session.execute(text(statement), sql.params))
        if len(found) > limit or edge is None:
            return found
        if time.perf_counter() > ends:
            return None
        key, chunk = (_updated_key(edge[0]), int(edge[1])), chunk * 4


def _walked(plan: Plan, limit: int) -> float:
    """About how many tickets a walk tests to fill a page: as many as it takes to
    meet ``limit`` of the driving clause's, spread over every message."""
    if plan.driver is None or not plan.rows:
        return WALK_TICKETS
    return (limit + 1) * max(1.0, plan.sql.messages / plan.rows)


def _newest_total(plan: Plan, counted: int | None, page: Page) -> tuple[int, bool]:
    """The total of a newest-first page: read with a candidate set; else counted within
    the budget; else a lower bound: the results before the page and those among as
    many tickets from the page's first as the budget lets be tested (exact when
    that reaches the oldest ticket), or at least the page and one more."""
    if counted is not None:
        return counted, True
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


def _count_from(plan: Plan, first: tuple[Any, ...], budget_ms: float) -> tuple[int, bool] | None:
    """The results among the tickets a budget lets be tested, newest first from the
    page's first row; and whether those were all there are. None if it ran out."""
    sql = plan.sql
    tests = sum(1 for c in plan.clauses for p in c if p.text) or 1
    affordable = int(budget_ms * 1000 / (sql.budget.probe_us * tests))
    if affordable < FEWEST_COUNTED and FEWEST_COUNTED > 1:  # not worth the time it takes
        return None
    tickets = max(FEWEST_COUNTED, affordable)
    updated, ident = sql.bind(_updated_bound(sql.pg, first[0])), sql.bind(first[1])
    where = conditions(plan, tickets)
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


def _worth_counting(plan: Plan) -> bool:
    """Whether an exact count may fit in the budget (one far beyond it is not tried)."""
    return set_cost_ms(plan) <= plan.sql.budget.count_ms


def _count(plan: Plan, budget_ms: float) -> int | None:
    """Every hit counted (None when ``budget_ms`` ran out first)."""
    sql = plan.sql
    statement = text(f"{sql.with_ctes(*hits_ctes(plan))}SELECT count(*) FROM hits")
    try:
        return int(_within(sql, statement, budget_ms).scalar_one())
    except _OutOfTime:
        return None


class _OutOfTime(Exception):
    """A statement given a time budget did not finish within it."""


def _within(sql: Sql, statement: Any, budget_ms: float) -> Any:
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


def _within_pg(sql: Sql, statement: Any, budget_ms: float) -> Any:
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


def _within_sqlite(sql: Sql, statement: Any, budget_ms: float) -> Any:
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
