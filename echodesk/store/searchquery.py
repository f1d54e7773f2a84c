"""The search query language, parsed into terms: one grammar for both databases.

::

    printer fire            both words (in one message of the ticket)
    "paper jam"             the exact phrase
    print*                  words starting with "print"
    -toner                  tickets with no message containing "toner"
    refund OR invoice       either (OR binds tighter than the implied AND)
    from:alice  to:billing@example.com  subject:"on fire"  customer:bigcorp
    status:open  tag:billing  assignee:me | none | bob@example.com  is:unassigned
    has:attachment  before:2026-11-01  after:2026-10-01
    sla:breached    a target missed (past due now, or notified as breached)
    sla:due<2h      a running target due within 2 hours (or already past due)
    rating:bad      the customer rated the help good, okay or bad

Parsing never fails: whatever cannot be read as an operator is a word
(``http://x`` is the words "http" and "x"), an unclosed quote runs to the
end, control characters are dropped and the query is cut at
:data:`MAX_QUERY` characters. Errors a person can fix (a bad date, an
unknown status) raise :class:`SearchError` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

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
