"""Conditions on numbers: the spam score, the message size, the customer's recent tickets.

Each takes comparisons, ``{gt: 5}``, ``{gte: 2, lt: 10}`` (all must hold), from
``gt gte lt lte eq``. A number that cannot be read (no spam header) makes the
condition false, and the explanation says so.

The spam score is the first of the context's ``spam_headers`` (or of the
header named by the condition's ``header:``) that yields one: a bare number
(``X-Spam-Score: 6.1``), a ``score=`` (``X-Spam-Status: Yes, score=6.1``), a
row of stars (``X-Spam-Level: ******``), or a flag: ``X-Spam-Flag: YES`` marks
the message as spam whatever the threshold, i.e. a score of infinity.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from yaml.nodes import Node, ScalarNode

from echodesk.rules.base import Condition, Entry, Result, View, verdict
from echodesk.rules.facts import HEADER_NAME
from echodesk.rules.nodes import STR, Reader, Where, describe
from echodesk.rules.text import quote

COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "gt": (">", operator.gt),
    "gte": (">=", operator.ge),
    "lt": ("<", operator.lt),
    "lte": ("<=", operator.le),
    "eq": ("=", operator.eq),
}
SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
_NUMBER = re.compile(r"[+-]?\d{1,12}(?:\.\d{1,12})?")
_SCORE = re.compile(r"\bscore=([+-]?\d{1,12}(?:\.\d{1,12})?)", re.IGNORECASE)

#: Reads the measured number from a view: (value or None, how it was found).
Measure = Callable[[View], tuple[float | None, str]]


@dataclass(frozen=True)
class Comparison:
    op: str
    limit: float
    shown: str  # the limit as the file wrote it (10MB stays 10MB)

    def holds(self, value: float) -> bool:
        return COMPARISONS[self.op][1](value, self.limit)

    def __str__(self) -> str:
        return f"{COMPARISONS[self.op][0]} {self.shown}"


@dataclass(frozen=True)
class Compare:
    """A measured number against one or more comparisons."""

    name: str
    comparisons: tuple[Comparison, ...]
    measure: Measure

    @property
    def label(self) -> str:
        return f"{self.name} {' and '.join(map(str, self.comparisons))}"

    def check(self, view: View) -> Result:
        value, found = self.measure(view)
        if value is None:
            return verdict(self.label, False, found)
        return verdict(self.label, all(c.holds(value) for c in self.comparisons), found)


# --- measuring ------------------------------------------------------------------------


def score_of(value: str) -> float | None:
    """The spam score one header value gives: a number, ``score=N``, stars, or a YES flag."""
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    found = _SCORE.search(text)
    if found:
        return float(found[1])
    if text and set(text) == {"*"}:
        return float(len(text))
    return math.inf if text.lower().startswith("yes") else None


def spam_score(headers: Sequence[str]) -> Measure:
    def measure(view: View) -> tuple[float | None, str]:
        for name in headers:
            for value in view.msg.headers.get(name.lower(), ()):
                score = score_of(value)
                if score == math.inf:
                    return score, f"{name.lower()}: {quote(value.strip(), 20)} counts as spam"
                if score is not None:
                    return score, f"{score:g} from {name.lower()}"
        return None, f"no spam score in {', '.join(h.lower() for h in headers)}"

    return measure


def _context_spam_score(view: View) -> tuple[float | None, str]:
    return spam_score(view.context.spam_headers)(view)


def _size(view: View) -> tuple[float | None, str]:
    return float(view.msg.size), f"{view.msg.size} bytes"


def _tickets(view: View) -> tuple[float | None, str]:
    count = view.facts.customer_tickets_24h
    return float(count), f"{count} in the last 24 hours"


# --- reading the comparisons ----------------------------------------------------------


def parse_size(text: str) -> int | None:
    """Bytes in ``500kB``, ``10MB``, ``1.5 MiB`` or ``2048`` (kB = 1000, KiB = 1024); else None."""
    found = _SIZE.fullmatch(text.strip().lower())
    if not found or found[2] not in SIZE_UNITS:
        return None
    return int(float(found[1]) * SIZE_UNITS[found[2]])


def _size_limit(node: Node, r: Reader, where: Where) -> tuple[float, str] | None:
    if isinstance(node, ScalarNode) and node.tag == STR:
        size = parse_size(str(node.value))
        if size is None:
            r.problem(
                node,
                where,
                f"expected a size like 500kB or 10MB (units: B, kB, MB, GB, KiB, MiB, GiB), "
                f"got {describe(node)}",
            )
            return None
        return float(size), str(node.value).strip()
    return _number_limit(node, r, where)


def _number_limit(node: Node, r: Reader, where: Where) -> tuple[float, str] | None:
    number = r.number(node, where)
    return None if number is None else (number, str(node.value))


def _count_limit(node: Node, r: Reader, where: Where) -> tuple[float, str] | None:
    limit = _number_limit(node, r, where)
    if limit is not None and (limit[0] < 0 or not limit[0].is_integer()):
        r.problem(node, where, f"expected a whole number of tickets, got {describe(node)}")
        return None
    return limit


Limit = Callable[[Node, Reader, Where], tuple[float, str] | None]


def _comparisons(
    entry: Entry, r: Reader, limit: Limit, extra: tuple[str, ...] = ()
) -> tuple[list[Comparison], dict[str, Node], bool]:
    """The ``{gt: N, ...}`` mapping, whether it is all right, and the ``extra`` parameters."""
    node, where = entry.pair.value, entry.where
    known = (*COMPARISONS, *extra)
    pairs = r.mapping(node, where, f"comparisons like {{gt: 5}} ({', '.join(COMPARISONS)})")
    if pairs is None:
        return [], {}, False
    found, params, ok = [], {}, len(pairs) == len(node.value)
    for pair in pairs:
        if pair.key not in known:
            r.problem(
                pair.key_node, where, f"unknown operator '{pair.key}' (use {', '.join(known)})"
            )
            ok = False
        elif pair.key in extra:
            params[pair.key] = pair.value
        elif (value := limit(pair.value, r, where.child(pair.key))) is not None:
            found.append(Comparison(pair.key, value[0], value[1]))
        else:
            ok = False
    if ok and not found:
        r.problem(node, where, f"no comparison (use {', '.join(COMPARISONS)})")
    return found, params, ok and bool(found)


def _spam_header(node: Node, r: Reader, where: Where) -> str | None:
    name = r.text(node, where, "a header name")
    if name is not None and not HEADER_NAME.fullmatch(name):
        r.problem(node, where, f"not a header name: {quote(name)}")
        return None
    return name


def parse_spam_score(entry: Entry, r: Reader) -> Condition | None:
    comparisons, params, ok = _comparisons(entry, r, _number_limit, extra=("header",))
    measure: Measure = _context_spam_score
    if "header" in params:
        name = _spam_header(params["header"], r, entry.where.child("header"))
        ok = ok and name is not None
        measure = spam_score((name or "",))
    return Compare("spam_score", tuple(comparisons), measure) if ok else None


def parse_size_condition(entry: Entry, r: Reader) -> Condition | None:
    comparisons, _, ok = _comparisons(entry, r, _size_limit)
    return Compare("size", tuple(comparisons), _size) if ok else None


def parse_tickets(entry: Entry, r: Reader) -> Condition | None:
    comparisons, _, ok = _comparisons(entry, r, _count_limit)
    return Compare("customer_tickets_24h", tuple(comparisons), _tickets) if ok else None
