"""Searching the archive: a parsed query, as SQL on SQLite FTS5 or PostgreSQL tsvector.

How a query runs, and why this way:

* Each positive word, phrase or ``from:``/``to:``/``subject:`` term first
  becomes a *candidate set*: the newest :data:`CANDIDATES` messages that
  match it, with their relevance (bm25 on SQLite, ts_rank_cd on PostgreSQL;
  subject weighs most), taken straight from the full-text index (attachment
  file names are words of the index too). A free word also brings the
  tickets it names by number, tag, or customer address or name. So a word
  found in a tenth of a million messages costs a bounded amount of work,
  not a pass over every match; when a set is full, the result says so
  (``Results.capped``: there may be older matches).
* The ticket filters (``status:``, ``tag:``, ``assignee:``, dates...) then
  run on those candidates; with no positive text they run on the tickets
  newest first and stop once :data:`COUNTED` pass (or the page asked for),
  so ``status:open`` on a large desk reads "2000+" rather than counting
  every open ticket. Clauses are ANDed, the terms of a clause ORed, ``-``
  negates (a negated word excludes every ticket with a message containing
  it).
* The matching tickets are counted and paged from one materialised set:
  best score first (an exact subject match before all), then most recently
  updated. The snippet is cut from the best message in Python, the same way
  on both databases.

Merged tickets are left out: their messages live in the ticket they went into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.metrics import SEARCH_SECONDS
from echodesk.store.models import Message
from echodesk.store.searchindex import words
from echodesk.store.searchquery import Query, SearchError, Term, day, parse, sla_window
from echodesk.store.types import as_bound, utcnow

CANDIDATES = 1000  # newest matching messages (and named tickets) per positive term
RERANK = 200  # the best this many are re-ranked by subject match in Python
COUNTED = 2000  # tickets a query without words counts, newest first, before "N+"
FIRST_WINDOW = 20_000  # PostgreSQL: the newest messages searched first (then older ones)
TRUSTED = 20  # matches enough to size the next window from how often a word was found
MARK_START, MARK_END = "\ue000", "\ue001"  # highlight markers in snippets
TEXT_KINDS = ("text", "subject", "from", "to")
_NO_SCORE = "CAST(NULL AS BIGINT), CAST(0 AS REAL)"  # a named ticket: no message, no score
_COLUMN = {"text": "", "subject": "subject", "from": "sender", "to": "recipients"}
_WEIGHT = {"text": "", "subject": "A", "from": "C", "to": "D"}


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
    total: int
    hits: list[Hit]
    #: A word matched more messages than are looked at: older matches may be missing.
    capped: bool = False


class _Sql:
    """Bound parameters with fresh names, and the dialect's pieces."""

    def __init__(self, dialect: str, me: str | None, session: Session | None = None) -> None:
        self.pg = dialect == "postgresql"
        self.me = me
        self.session = session
        self.params: dict[str, Any] = {}
        self.ctes: list[str] = []
        self.top = 0  # the newest message's id (PostgreSQL's search windows)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def like(self, column: str, value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        op = "ILIKE" if self.pg else "LIKE"
        return f"{column} {op} {self.bind(f'%{escaped}%')} ESCAPE '\\'"

    def fts(self, term: Term) -> str:
        """The FTS5 MATCH expression, or the tsquery text, of a text term."""
        tokens = term.tokens
        if self.pg:
            weight = _WEIGHT[term.kind]
            parts = [f"{t}:{weight}" if weight else t for t in tokens]
            if term.prefix:
                parts[-1] = f"{tokens[-1]}:*{weight}"
            return (" <-> " if term.phrase else " & ").join(parts)
        if term.phrase:
            body = '"' + " ".join(tokens) + '"' + ("*" if term.prefix else "")
        else:
            body = " ".join(f'"{t}"' for t in tokens[:-1])
            body = (body + " " if body else "") + f'"{tokens[-1]}"' + ("*" if term.prefix else "")
        column = _COLUMN[term.kind]
        return f"{column} : ({body})" if column else body

    def customers(self, text: str) -> str:
        """A materialised set of the customers whose address or name contains ``text``.

        Found first, through the trigram indexes, so that their tickets are
        looked up by customer rather than every ticket's customer tested.
        """
        name = f"who{len(self.ctes)}"
        people = f"{self.like('c.email', text)} OR {self.like('c.display_name', text)}"
        self.ctes.append(f"{name} AS MATERIALIZED (SELECT c.id FROM customers c WHERE {people})")
        return name

    # -- candidate sets -----------------------------------------------------------
    def newest_matches(self, term: Term) -> str:
        """(tid, mid, score) of the newest matching messages of one term."""
        if self.pg:
            mids, tids, scores = self.pg_newest(term)
            return (
                "SELECT x.tid AS tid, x.mid AS mid, x.score AS score FROM unnest("
                f"CAST({self.bind(mids)} AS bigint[]), CAST({self.bind(tids)} AS bigint[]), "
                f"CAST({self.bind(scores)} AS real[])) AS x(mid, tid, score)"
            )
        # bm25() only works in a plain FTS query; the join to messages comes after.
        expr = self.bind(self.fts(term))
        return (
            "SELECT m.ticket_id AS tid, f.mid AS mid, f.score AS score FROM ("
            "SELECT rowid AS mid, -bm25(message_fts, 8.0, 1.0, 2.0, 1.0) AS score "
            f"FROM message_fts WHERE message_fts MATCH {expr} "
            f"ORDER BY rowid DESC LIMIT {CANDIDATES}) f JOIN messages m ON m.id = f.mid"
        )

    def pg_newest(self, term: Term) -> tuple[list[int], list[int], list[float]]:
        """PostgreSQL: the newest :data:`CANDIDATES` matches, looked for newest first.

        A GIN index cannot hand out its matches newest first, and asking for
        "the newest N" in one statement lets the planner walk the messages
        backwards testing each one. So the newest :data:`FIRST_WINDOW` messages
        are searched first (the word's index entries ANDed with an id range),
        and each further, older window is sized from how often the word was
        found so far (at most eight times the last while fewer than
        :data:`TRUSTED` matches make the guess a poor one) until the set is full.
        """
        assert self.session is not None
        query = self.fts(term)
        found: list[tuple[int, int, float]] = []
        matched = 0  # matches seen in the windows so far (some beyond the set)
        hi, window = self.top, FIRST_WINDOW
        while hi > 0 and len(found) < CANDIDATES:
            lo = max(0, hi - window)
            # The window's matches are found whole (a bitmap of the index ANDed
            # with the id range), then only the newest ones needed are ranked.
            rows: list[Any] = list(
                self.session.execute(
                    text(
                        "WITH q AS (SELECT to_tsquery('simple', :q) AS q), "
                        "w AS MATERIALIZED (SELECT m.id, m.ticket_id FROM messages m, q "
                        "WHERE m.search_vector @@ q.q AND m.id > :lo AND m.id <= :hi) "
                        "SELECT k.id, k.ticket_id, ts_rank_cd(m.search_vector, q.q), "
                        "(SELECT count(*) FROM w) FROM "
                        "(SELECT * FROM w ORDER BY id DESC LIMIT :need) k "
                        "JOIN messages m ON m.id = k.id, q ORDER BY k.id DESC"
                    ),
                    {"q": query, "lo": lo, "hi": hi, "need": CANDIDATES - len(found)},
                )
            )
            found += [(r[0], r[1], float(r[2])) for r in rows]
            matched += int(rows[0][3]) if rows else 0
            seen, need = self.top - lo, CANDIDATES - len(found)
            guess = int(1.3 * need * seen / max(matched, 1))
            grow = guess if matched >= TRUSTED else min(guess, 8 * window)
            hi, window = lo, max(window, grow)
        return [f[0] for f in found], [f[1] for f in found], [f[2] for f in found]

    def named_tickets(self, term: Term) -> list[str]:
        """Tickets a free word names by number, tag or customer (no score)."""
        parts = []
        number = _ticket_number(term)
        if number is not None:
            parts.append(f"SELECT id, {_NO_SCORE} FROM tickets WHERE number = {self.bind(number)}")
        if term.raw and not term.prefix:
            parts.append(
                f"SELECT ticket_id, {_NO_SCORE} FROM ticket_tags WHERE tag = {self.bind(term.raw)}"
                " ORDER BY ticket_id DESC"
            )
        if len(term.raw) >= 3:
            parts.append(
                f"SELECT t2.id, {_NO_SCORE} FROM tickets t2 WHERE t2.customer_id IN "
                f"(SELECT id FROM {self.customers(term.raw)})"
            )
        return [f"SELECT * FROM ({p} LIMIT {CANDIDATES}) x" for p in parts]

    def candidates(self, term: Term) -> str:
        """A materialised candidate set for a positive text term; its name."""
        name = f"c{len(self.ctes)}"
        parts = [f"SELECT * FROM ({self.newest_matches(term)}) w"]
        if term.kind == "text":
            parts += self.named_tickets(term)
        self.ctes.append(f"{name} AS MATERIALIZED ({' UNION ALL '.join(parts)})")
        return name

    def excluded(self, term: Term) -> str:
        """A negated text term: no message of the ticket matches it."""
        expr = self.bind(self.fts(term))
        if self.pg:
            # OFFSET 0 keeps this a test of each ticket's few messages: as an
            # anti-join, PostgreSQL would first find every message with the word.
            return (
                "NOT EXISTS (SELECT 1 FROM messages m WHERE m.ticket_id = t.id "
                f"AND m.search_vector @@ to_tsquery('simple', {expr}) OFFSET 0)"
            )
        return (
            "t.id NOT IN (SELECT m.ticket_id FROM message_fts JOIN messages m "
            f"ON m.id = message_fts.rowid WHERE message_fts MATCH {expr})"
        )


def _ticket_number(term: Term) -> int | None:
    tokens = term.tokens
    digits = tokens[-1] if tokens and tokens[-1].isdigit() and len(tokens) <= 2 else ""
    return int(digits) if digits and len(digits) <= 12 else None


def _filter(sql: _Sql, term: Term) -> str:
    """A ticket filter (not a text term) as a condition on ``t``."""
    kind = term.kind
    if kind == "customer":
        return f"t.customer_id IN (SELECT id FROM {sql.customers(term.raw)})"
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


def _condition(sql: _Sql, term: Term, sets: list[str]) -> str:
    if term.kind in TEXT_KINDS:
        if term.negated:
            return sql.excluded(term)
        name = sql.candidates(term)
        sets.append(name)
        return f"t.id IN (SELECT tid FROM {name})"
    cond = _filter(sql, term)
    return f"NOT ({cond})" if term.negated else f"({cond})"


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
    who = f"{sql.like('email', value)} OR {sql.like('name', value)}"
    return f"t.assignee_id IN (SELECT id FROM agents WHERE {who})"


def _where(sql: _Sql, query: Query, sets: list[str]) -> tuple[str, list[str]]:
    """The condition on ``t``, and the candidate sets every hit must be in (if any).

    A clause made only of words (``refund OR chargeback``) holds only for
    tickets in its candidate sets, so the hits are looked for there rather
    than among all tickets.
    """
    parts = ["t.merged_into_id IS NULL"]
    anchor: list[str] = []
    for clause in query.clauses:
        before = len(sets)
        condition = "(" + " OR ".join(_condition(sql, term, sets) for term in clause) + ")"
        if not anchor and all(t.kind in TEXT_KINDS and not t.negated for t in clause):
            anchor = sets[before:]  # the hits are looked for in these: no need to test it
        else:
            parts.append(condition)
    return " AND ".join(parts), anchor


def _scores(sql: _Sql, sets: list[str]) -> str:
    """(tid, score, best) from the candidate sets: the best-scoring message per ticket."""
    rows = " UNION ALL ".join(f"SELECT tid, mid, score FROM {name}" for name in sets)
    if sql.pg:
        return (
            "SELECT DISTINCT ON (tid) tid, score, mid AS best FROM "
            f"({rows}) u ORDER BY tid, score DESC, mid DESC"
        )
    # SQLite keeps the other columns of the MAX() row: mid is the best message.
    return f"SELECT tid, MAX(score) AS score, mid AS best FROM ({rows}) u GROUP BY tid"


def search(
    session: Session,
    query: str | Query,
    *,
    limit: int = 20,
    offset: int = 0,
    me: str | None = None,
) -> Results:
    """Tickets matching the query, best first (see the module docstring)."""
    with SEARCH_SECONDS.time():
        return _search(session, query, limit=limit, offset=offset, me=me)


def _search(
    session: Session, query: str | Query, *, limit: int, offset: int, me: str | None
) -> Results:
    parsed = parse(query) if isinstance(query, str) else query
    sql = _Sql(session.get_bind().dialect.name, me, session)
    if sql.pg:
        sql.top = int(session.scalar(text("SELECT max(id) FROM messages")) or 0)
    sets: list[str] = []
    where, anchor = _where(sql, parsed, sets)
    counted = max(COUNTED, offset + limit)
    statement = _statement(sql, sets, where, anchor, counted, limit + offset)
    rows = list(session.execute(text(statement), sql.params).all())
    total = int(rows[0][8]) if rows else _count(session, sql)
    is_capped = bool(rows[0][9]) if rows else total > counted
    total = min(total, counted) if not sets else total
    ordered = _rerank(rows, parsed) if sets else rows
    page = ordered[offset : offset + limit]
    snippets = _snippets(session, parsed, [r[7] for r in page if r[7] is not None])
    hits = [
        Hit(
            ticket_id=r[0],
            number=r[1],
            subject=r[2],
            status=r[3],
            customer=r[4],
            updated_at=_aware(r[5]),
            score=float(r[6] or 0.0),
            message_pk=r[7],
            snippet=snippets.get(r[7], "") if r[7] is not None else "",
        )
        for r in page
    ]
    return Results(total, hits, is_capped)


def _statement(
    sql: _Sql, sets: list[str], where: str, anchor: list[str], counted: int, wanted: int
) -> str:
    """The one statement that picks, scores and orders the hits and reads a page of them.

    Columns: id, number, subject, status, customer, updated_at, score, best
    message, the number of hits, and whether counting stopped at ``counted``.
    """
    picked = f"SELECT t.id, t.updated_at FROM tickets t WHERE {where}"
    if anchor:
        among = " UNION ALL ".join(f"SELECT tid FROM {name}" for name in anchor)
        picked += f" AND t.id IN ({among})"
    if not sets:  # filters only: the newest tickets that pass, enough to count to "N+"
        picked += f" ORDER BY t.updated_at DESC, t.id DESC LIMIT {counted + 1}"
    sql.ctes.append(f"hits AS MATERIALIZED ({picked})")
    if sets:
        sql.ctes.append(f"ranked AS MATERIALIZED ({_scores(sql, sets)})")
        scored = "SELECT h.id, h.updated_at, r.score, r.best FROM hits h LEFT JOIN ranked r "
        scored += "ON r.tid = h.id"
        order = "score IS NULL, score DESC, updated_at DESC, id DESC"
        window = max(wanted, RERANK)
        full = [f"(SELECT count(*) FROM {n} WHERE mid IS NOT NULL) >= {CANDIDATES}" for n in sets]
        capped = "(" + " OR ".join(full) + ")"
    else:
        scored = "SELECT id, updated_at, 0.0 AS score, CAST(NULL AS BIGINT) AS best FROM hits"
        order, window = "updated_at DESC, id DESC", wanted
        capped = f"(SELECT count(*) FROM hits) > {counted}"
    # Ordered and cut among the hits alone; only the page's tickets are read whole.
    sql.ctes.append(f"page AS MATERIALIZED ({scored} ORDER BY {order} LIMIT {int(window)})")
    statement = (
        "WITH " + ", ".join(sql.ctes) + " "
        "SELECT t.id, t.number, t.subject, t.status, c.email, t.updated_at, "
        f"p.score, p.best, (SELECT count(*) FROM hits), CASE WHEN {capped} THEN 1 ELSE 0 END "
        "FROM page p JOIN tickets t ON t.id = p.id LEFT JOIN customers c ON c.id = t.customer_id "
        f"ORDER BY {', '.join('p.' + o for o in order.split(', '))}"
    )
    return statement


def _count(session: Session, sql: _Sql) -> int:
    """The total when the page came back empty (an offset past the end)."""
    statement = "WITH " + ", ".join(sql.ctes) + " SELECT count(*) FROM hits"
    return int(session.execute(text(statement), sql.params).scalar_one())


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through a raw text query
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _rerank(rows: list[Any], query: Query) -> list[Any]:
    """A ticket whose subject is exactly the query's words comes first, then by score."""
    wanted = " ".join(t.value for t in query.positive_text)

    def key(row: Any) -> tuple[int, int, float]:
        subject = words(row[2] or "")
        exact = 0 if subject == wanted else 1 if wanted and wanted in subject else 2
        return (exact, 0 if row[6] is not None else 1, -(row[6] or 0.0))

    return sorted(rows, key=key)


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
