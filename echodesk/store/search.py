"""Searching the archive: a parsed query, as SQL on SQLite FTS5 or PostgreSQL tsvector.

Each term becomes a condition on tickets (``t``): free words and the
``from:``/``to:``/``subject:`` fields look in the full-text index of the
ticket's messages; a free word also finds a ticket by its number, its tags,
its customer's address or name, and its attachments' file names. The
clauses are ANDed, the terms of a clause ORed, a ``-`` negates. Merged
tickets are left out (their messages live in the ticket they went into).

Ranking: tickets with a message matching the free words, best first
(bm25 on SQLite, ts_rank_cd on PostgreSQL, with subject weighing most),
a subject equal to the query words first of all, then the most recently
updated. On PostgreSQL only the newest matching messages are ranked
(:data:`RANK_WINDOW`), which keeps a query on a word found in every tenth
of a million messages fast. The snippet is cut from the best message in
Python, the same way on both databases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.store.models import Message
from echodesk.store.searchindex import words
from echodesk.store.searchquery import Query, SearchError, Term, day, parse

RERANK = 200  # the best this many are re-ranked by subject match in Python
RANK_WINDOW = 5000  # PostgreSQL: newest matching messages that are ranked
MARK_START, MARK_END = "\ue000", "\ue001"  # highlight markers in snippets
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


class _Sql:
    """Bound parameters with fresh names, and the dialect's pieces."""

    def __init__(self, dialect: str, me: str | None) -> None:
        self.pg = dialect == "postgresql"
        self.me = me
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def like(self, column: str, value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        op = "ILIKE" if self.pg else "LIKE"
        return f"{column} {op} {self.bind(f'%{escaped}%')} ESCAPE '\\'"

    # -- full text --------------------------------------------------------------
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

    def messages_matching(self, expr: str) -> str:
        """Ticket ids whose messages match a full-text expression."""
        if self.pg:
            return (
                "SELECT ticket_id FROM messages "
                f"WHERE search_vector @@ to_tsquery('simple', {self.bind(expr)})"
            )
        return (
            "SELECT m.ticket_id FROM message_fts JOIN messages m ON m.id = message_fts.rowid "
            f"WHERE message_fts MATCH {self.bind(expr)}"
        )


def _ticket_number(term: Term) -> int | None:
    tokens = term.tokens
    digits = tokens[-1] if tokens and tokens[-1].isdigit() and len(tokens) <= 2 else ""
    return int(digits) if digits and len(digits) <= 12 else None


def _free_text(sql: _Sql, term: Term) -> str:
    """A free word: in the messages, or the ticket's number, tags, customer, files."""
    parts = [f"t.id IN ({sql.messages_matching(sql.fts(term))})"]
    number = _ticket_number(term)
    if number is not None:
        parts.append(f"t.number = {sql.bind(number)}")
    if term.raw and not term.prefix:
        parts.append(
            "EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id "
            f"AND g.tag = {sql.bind(term.raw)})"
        )
    if len(term.raw) >= 3:
        people = f"{sql.like('c.email', term.raw)} OR {sql.like('c.display_name', term.raw)}"
        parts.append(f"t.customer_id IN (SELECT c.id FROM customers c WHERE {people})")
        parts.append(
            "t.id IN (SELECT m.ticket_id FROM attachments a JOIN messages m "
            f"ON m.id = a.message_pk WHERE {sql.like('a.filename', term.raw)})"
        )
    return " OR ".join(parts)


def _condition(sql: _Sql, term: Term) -> str:
    """One term as a condition on the ticket ``t``."""
    kind = term.kind
    if kind == "text":
        cond = _free_text(sql, term)
    elif kind in ("subject", "from", "to"):
        cond = f"t.id IN ({sql.messages_matching(sql.fts(term))})"
    elif kind == "customer":
        people = f"{sql.like('c.email', term.raw)} OR {sql.like('c.display_name', term.raw)}"
        cond = f"t.customer_id IN (SELECT c.id FROM customers c WHERE {people})"
    elif kind == "status":
        cond = f"t.status = {sql.bind(term.value)}"
    elif kind == "tag":
        cond = (
            "EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id "
            f"AND g.tag = {sql.bind(term.value)})"
        )
    elif kind == "assignee":
        cond = _assignee(sql, term.value)
    elif kind == "is":
        cond = "t.assignee_id IS NULL"
    elif kind == "has":
        cond = (
            "EXISTS (SELECT 1 FROM attachments a JOIN messages m ON m.id = a.message_pk "
            "WHERE m.ticket_id = t.id)"
        )
    elif kind == "before":
        cond = f"t.created_at < {sql.bind(_when(sql, term.value))}"
    else:  # after
        cond = f"t.updated_at >= {sql.bind(_when(sql, term.value))}"
    return f"NOT ({cond})" if term.negated else f"({cond})"


def _when(sql: _Sql, value: str) -> Any:
    moment = day(value)
    return moment if sql.pg else moment.replace(tzinfo=None)


def _assignee(sql: _Sql, value: str) -> str:
    if value in ("none", "nobody"):
        return "t.assignee_id IS NULL"
    if value == "me":
        if not sql.me:
            raise SearchError("assignee:me needs to know who you are (sign in, or use --me)")
        return f"t.assignee_id IN (SELECT id FROM agents WHERE email = {sql.bind(sql.me.lower())})"
    who = f"{sql.like('email', value)} OR {sql.like('name', value)}"
    return f"t.assignee_id IN (SELECT id FROM agents WHERE {who})"


def _where(sql: _Sql, query: Query) -> str:
    parts = ["t.merged_into_id IS NULL"]
    for clause in query.clauses:
        parts.append("(" + " OR ".join(_condition(sql, term) for term in clause) + ")")
    return " AND ".join(parts)


def _ranking(sql: _Sql, query: Query) -> str | None:
    """A subquery of (ticket_id, score, best message id) for the positive free words."""
    terms = query.positive_text
    if not terms:
        return None
    if sql.pg:
        expr = sql.bind(" | ".join(f"({sql.fts(t)})" for t in terms))
        return (
            "SELECT DISTINCT ON (w.ticket_id) w.ticket_id AS tid, w.score, w.id AS best FROM ("
            "SELECT m.id, m.ticket_id, ts_rank_cd(m.search_vector, q.q) AS score "
            f"FROM messages m, to_tsquery('simple', {expr}) AS q(q) "
            f"WHERE m.search_vector @@ q.q ORDER BY m.id DESC LIMIT {RANK_WINDOW}) w "
            "ORDER BY w.ticket_id, w.score DESC"
        )
    expr = sql.bind(" OR ".join(f"({sql.fts(t)})" for t in terms))
    # bm25() only works in a plain FTS query: rank there, group by ticket outside.
    # (SQLite keeps the other columns of the MIN() row: m.id is the best message.)
    ranked = (
        "SELECT rowid AS mid, bm25(message_fts, 8.0, 1.0, 2.0, 1.0) AS s FROM message_fts "
        f"WHERE message_fts MATCH {expr} LIMIT -1 OFFSET 0"
    )
    return (
        "SELECT m.ticket_id AS tid, -MIN(f.s) AS score, m.id AS best "
        f"FROM ({ranked}) f JOIN messages m ON m.id = f.mid GROUP BY m.ticket_id"
    )


def search(
    session: Session,
    query: str | Query,
    *,
    limit: int = 20,
    offset: int = 0,
    me: str | None = None,
) -> Results:
    """Tickets matching the query, best first (see the module docstring)."""
    parsed = parse(query) if isinstance(query, str) else query
    sql = _Sql(session.get_bind().dialect.name, me)
    where = _where(sql, parsed)
    ranking = _ranking(sql, parsed)
    total = int(
        session.execute(
            text(f"SELECT count(*) FROM tickets t WHERE {where}"), sql.params
        ).scalar_one()
    )
    select_rank = "r.score, r.best" if ranking else "0.0, NULL"
    join = f"LEFT JOIN ({ranking}) r ON r.tid = t.id" if ranking else ""
    order = "r.score IS NULL, r.score DESC, t.updated_at DESC" if ranking else "t.updated_at DESC"
    window = max(limit + offset, RERANK) if ranking else limit + offset
    rows = session.execute(
        text(
            "SELECT t.id, t.number, t.subject, t.status, c.email, t.updated_at, "
            f"{select_rank} FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id "
            f"{join} WHERE {where} ORDER BY {order} LIMIT {int(window)}"
        ),
        sql.params,
    ).all()
    ordered = _rerank(list(rows), parsed) if ranking else list(rows)
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
    return Results(total, hits)


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
    pattern = re.compile(
        r"(?<!\w)("
        + "|".join(re.escape(t) for t in sorted(set(tokens), key=len, reverse=True))
        + r")\w*",
        re.IGNORECASE,
    )
    first = pattern.search(flat)
    start = max(0, (first.start() if first else 0) - width // 3)
    piece = flat[start : start + width]
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_END}", piece)
    return ("…" if start else "") + marked + ("…" if start + width < len(flat) else "")
