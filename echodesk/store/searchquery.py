"""The search query language, parsed into terms: one grammar for both databases.

::

    printer fire            both words, anywhere in the ticket (in one message or two)
    "paper jam"             the exact phrase, in one field of one message
    print*                  words starting with "print"
    -toner                  tickets with no message containing "toner"
    refund OR invoice       either (OR binds tighter than the implied AND)
    from:alice  to:billing@example.com  subject:"on fire"  customer:bigcorp
    status:open  tag:billing  assignee:me | none | bob@example.com  is:unassigned
    has:attachment  before:2026-11-01  after:2026-10-01
    sla:breached    a target missed (past due now, or notified as breached)
    sla:due<2h      a running target due within 2 hours (or already past due)
    rating:bad      the customer rated the help good, okay or bad

What a query selects is a set of tickets: each clause (the terms an ``OR``
joins) holds for a ticket when one of its terms does, and the clauses are
ANDed *within the ticket*: ``printer toner`` finds a ticket whose first
message speaks of the printer and whose third of the toner. A word is found
in a message's subject, body (with its attached files' names), sender or
recipients, and a free word also names tickets by number, tag, or their
customer's address or name; a phrase is its words in a row within one of
those fields. Merged tickets are never results: their messages live in the
ticket they went into.

Parsing never fails: whatever cannot be read as an operator is a word
(``http://x`` is the words "http" and "x"), an unclosed quote runs to the
end, control characters are dropped and the query is cut at
:data:`MAX_QUERY` characters. Errors a person can fix (a bad date, an
unknown status, a damaged page link) raise :class:`SearchError` with the
reason.

A page of results is continued by a :class:`Cursor`: the sort key of the row
it follows (or precedes), written as an opaque, URL-safe token with a
checksum and the fingerprint of its query, so that a link edited by hand or
carried over to another search is refused with a reason rather than paging
from a point no page ever showed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from echodesk.config import duration_seconds
from echodesk.errors import EchoError
from echodesk.statuses import RATINGS, STATUSES
from echodesk.store.searchindex import words

MAX_QUERY = 1000  # characters
MAX_TERMS = 30
TEXT_FIELDS = ("from", "to", "subject")
FIELDS = (
    *TEXT_FIELDS,
    *("customer", "status", "tag", "assignee", "is", "has", "before", "after", "sla", "rating"),
)
_SLA_DUE = re.compile(r"due<(.+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r'(-?)(?:([A-Za-z]{2,10}):)?(?:"([^"]*)"?|(\S+))')


class SearchError(EchoError):
    """A query that can be read but not answered (a bad date, an unknown status)."""


@dataclass(frozen=True)
class Term:
    """One condition: ``kind`` is a field name, or ``text`` for free words."""

    kind: str
    value: str  # for text kinds: normalised words ("paper jam")
    negated: bool = False
    phrase: bool = False  # the words must follow each other
    prefix: bool = False  # the last word is a prefix
    raw: str = ""  # as typed (lower case, no '*'): for addresses, names and file names

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self.value.split())


@dataclass(frozen=True)
class Query:
    """Clauses that must all hold; each clause holds if any of its terms does."""

    clauses: tuple[tuple[Term, ...], ...]

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(t for clause in self.clauses for t in clause)

    @property
    def positive_text(self) -> tuple[Term, ...]:
        """The free-word terms that rank and highlight results."""
        return tuple(t for t in self.terms if t.kind in ("text", "subject") and not t.negated)


def _day(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise SearchError(f"not a date: {value!r} (use YYYY-MM-DD)") from None


def _field_term(field: str, raw: str, negated: bool, quoted: bool) -> Term | None:
    """A field:value term, checked; None when nothing searchable is left."""
    value = raw.strip()
    if field in ("from", "to", "subject", "customer"):
        prefix = value.endswith("*") and not quoted
        normal = words(value)
        if not normal:
            return None
        raw_value = value.rstrip("*").lower()
        phrase = quoted or " " in normal
        return Term(field, normal, negated, phrase=phrase, prefix=prefix, raw=raw_value)
    lowered = value.lower()
    if field == "status":
        if lowered not in STATUSES:
            raise SearchError(f"status:{value}: use one of {', '.join(STATUSES)}")
    elif field == "is" and lowered != "unassigned":
        raise SearchError(f"is:{value}: only is:unassigned is known")
    elif field == "has" and lowered not in ("attachment", "attachments"):
        raise SearchError(f"has:{value}: only has:attachment is known")
    elif field in ("before", "after"):
        _day(value)
    elif field == "sla":
        sla_window(lowered)
    elif field == "rating" and lowered not in RATINGS:
        raise SearchError(f"rating:{value}: use one of {', '.join(RATINGS)}")
    elif not lowered:
        return None
    return Term(field, lowered, negated, raw=lowered)


def sla_window(value: str) -> int | None:
    """``sla:`` terms: None for ``breached``, the seconds of ``due<DURATION``."""
    if value == "breached":
        return None
    found = _SLA_DUE.fullmatch(value)
    try:
        if found is not None:
            return duration_seconds(found[1])
    except ValueError:
        pass
    raise SearchError(f"sla:{value}: use sla:breached or sla:due<DURATION (like sla:due<2h)")


def _text_term(raw: str, negated: bool, quoted: bool) -> Term | None:
    prefix = raw.endswith("*") and not quoted
    normal = words(raw)
    if not normal:
        return None  # '*' alone, punctuation, NEAR( ...: nothing to look for
    raw_value = raw.rstrip("*").lower()
    if quoted or not prefix:
        return Term("text", normal, negated, phrase=" " in normal, raw=raw_value)
    return Term("text", normal, negated, phrase=" " in normal, prefix=True, raw=raw_value)


def parse(query: str) -> Query:
    """Read a query (see the module docstring); never raises for malformed text."""
    text = _CONTROL.sub(" ", query)[:MAX_QUERY]
    clauses: list[list[Term]] = []
    join_next = False
    for match in _TOKEN.finditer(text):
        minus, field, quoted, bare = match.groups()
        raw = quoted if quoted is not None else bare
        if field is None and quoted is None and raw == "OR":
            join_next = bool(clauses)
            continue
        field_name = field.lower() if field else None
        if field_name is not None and field_name not in FIELDS:
            raw, field_name = f"{field}:{raw}", None  # "http://x": words, not an operator
        negated = minus == "-"
        term = (
            _field_term(field_name, raw, negated, quoted is not None)
            if field_name
            else _text_term(raw, negated, quoted is not None)
        )
        if term is None:
            continue
        if join_next and clauses:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        join_next = False
        if sum(len(c) for c in clauses) >= MAX_TERMS:
            break
    return Query(tuple(tuple(c) for c in clauses))


def day(value: str) -> datetime:
    """The start of a YYYY-MM-DD day in UTC (checked by :func:`parse` already)."""
    return _day(value)


# -- page cursors ---------------------------------------------------------------------

RELEVANCE, NEWEST = "relevance", "newest"  # the two orders a result can be in
MAX_CURSOR = 400  # characters of a cursor that are read at all
_CURSOR_VERSION = 1
_CHECK = 8  # bytes of checksum
_BAD_CURSOR = "this page link is damaged or was not made here: start the search again"
_OTHER_QUERY = "this page link belongs to another search: start the search again"


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just after (``forward``) or just before ``key``.

    ``key`` is the sort key of a result row, in the order named by ``order``:
    ``(exact, score, updated, id)`` for :data:`RELEVANCE` (``exact`` is 1 for
    an exact subject match), ``(updated, id)`` for :data:`NEWEST`; ``updated``
    is the ticket's last update as the database compares it. ``position`` is
    how many results come before the page it opens (after a forward cursor),
    or before its key row (a backward one): the page number is read from it.
    """

    order: str
    forward: bool
    key: tuple[Any, ...]
    position: int
    query: str  # fingerprint of the query it belongs to


def fingerprint(query: Query) -> str:
    """A short digest of what a query means, so that a cursor stays with its query."""
    text = repr(
        [
            [(t.kind, t.value, t.negated, t.phrase, t.prefix, t.raw) for t in c]
            for c in query.clauses
        ]
    )
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECK, person=b"echodesk-cursor").digest()


def encode_cursor(cursor: Cursor) -> str:
    """The cursor as URL-safe text (base64url of its fields and a checksum, no padding)."""
    fields = [_CURSOR_VERSION, cursor.order[0], int(cursor.forward), list(cursor.key)]
    fields += [cursor.position, cursor.query]
    payload = json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(payload + _checksum(payload)).decode().rstrip("=")


def _fields(text: str) -> list[Any]:
    """The fields of an encoded cursor, checksum checked; SearchError if damaged."""
    if not text or len(text) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise SearchError(_BAD_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SearchError(_BAD_CURSOR) from None
    payload, check = raw[:-_CHECK], raw[-_CHECK:]
    if len(raw) <= _CHECK or not hmac.compare_digest(check, _checksum(payload)):
        raise SearchError(_BAD_CURSOR)
    try:
        fields = json.loads(payload)
    except ValueError:
        raise SearchError(_BAD_CURSOR) from None
    if not isinstance(fields, list) or len(fields) != 6 or fields[0] != _CURSOR_VERSION:
        raise SearchError(_BAD_CURSOR)
    return fields


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < 2**63


def _valid_key(order: str, key: Any) -> bool:
    if not isinstance(key, list) or len(key) != (4 if order == RELEVANCE else 2):
        return False
    *head, updated, ident = key
    if not (isinstance(updated, str) and 0 < len(updated) <= 40 and _is_int(ident)):
        return False
    if order == NEWEST:
        return True
    exact, score = head
    number = isinstance(score, int | float) and not isinstance(score, bool)
    return exact in (0, 1) and number and math.isfinite(score)


def decode_cursor(text: str, query: Query) -> Cursor:
    """A cursor read back from :func:`encode_cursor`, for this query; SearchError if it
    is damaged, was made up, or belongs to another query."""
    _version, order_code, forward, key, position, query_print = _fields(text)
    order = {"r": RELEVANCE, "n": NEWEST}.get(order_code) if isinstance(order_code, str) else None
    if order is None or forward not in (0, 1) or not _is_int(position):
        raise SearchError(_BAD_CURSOR)
    if not _valid_key(order, key) or not isinstance(query_print, str):
        raise SearchError(_BAD_CURSOR)
    if query_print != fingerprint(query):
        raise SearchError(_OTHER_QUERY)
    if order == RELEVANCE:
        key = [key[0], float(key[1]), key[2], key[3]]
    return Cursor(order, bool(forward), tuple(key), position, query_print)
