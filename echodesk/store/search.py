"""Searching the archive: a parsed query, answered exactly on SQLite FTS5 or PostgreSQL.

What a query selects is written in :mod:`echodesk.store.searchquery`; this
module finds exactly those tickets, counts them, and pages through them in a
total order (:func:`search`, the one way in). How, and why this way, is told
where it is done:

* :mod:`echodesk.store.searchterms`: each term of the query made into SQL for
  the database in hand, and what each database affords (:class:`Budget`).
* :mod:`echodesk.store.searchplan`: every term sized, the rarest clause
  driving, every other clause tested on its candidates; the order chosen.
* :mod:`echodesk.store.searchpages`: the two total orders (ranked, or newest
  first), keyset paging by cursor, and exact counts within a time budget (else
  a lower bound, ``Results.capped``).
* Snippets are cut in Python from each page ticket's best message, the same
  way on both databases (here).

Merged tickets are never results: their messages live in the ticket they went into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.metrics import SEARCH_SECONDS
from echodesk.store import searchplan
from echodesk.store.models import Message
from echodesk.store.searchpages import Page, cursors, newest_page, ranked_page
from echodesk.store.searchplan import Plan
from echodesk.store.searchquery import RELEVANCE, Query, decode_cursor, parse
from echodesk.store.searchterms import BUDGETS, Budget

__all__ = ["BUDGETS", "MARK_END", "MARK_START", "Budget", "Hit", "Results", "search", "snippet"]

MARK_START, MARK_END = "\ue000", "\ue001"  # highlight markers in snippets


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
    plan = searchplan.plan(session, parsed, me, at.order if at is not None else None)
    page = ranked_page(plan, at, limit) if plan.order == RELEVANCE else newest_page(plan, at, limit)
    after, before = cursors(plan, page)
    return Results(
        total=max(page.total, page.position + len(page.ids)),
        hits=_hits(plan, page),
        capped=not page.exact,
        position=page.position,
        next=after,
        previous=before,
        order=plan.order,
    )


def _hits(plan: Plan, page: Page) -> list[Hit]:
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


def _newest_matching(plan: Plan, ids: list[int]) -> dict[int, int]:
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
