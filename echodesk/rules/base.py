"""What every condition shares: its result, its protocol, and the message view it reads.

A condition is a small frozen object with a ``label`` (how explanations name
it) and one method, ``check(view) -> Result``. :func:`run` is the single place
that guards a check: evaluation must never raise for any message, so a check
that fails in an unforeseen way counts as "does not hold" and says so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from echodesk.rules.clock import BusinessHours, parse_business_hours
from echodesk.rules.facts import Facts, RulesContext, zone
from echodesk.rules.nodes import Pair, Reader, Where
from echodesk.rules.text import printable

#: Body matching reads at most this many characters (the start of a huge body is
#: where the customer wrote; the rest is quoted history, logs or base64 noise).
MAX_BODY = 1_000_000


@dataclass(frozen=True)
class Result:
    """Whether a condition held, and why, as ``label: yes (detail)``."""

    held: bool
    why: str


def verdict(label: str, held: bool, detail: str = "") -> Result:
    text = f"{label}: {'yes' if held else 'no'}"
    return Result(held, f"{text} ({detail})" if detail else text)


class View:
    """One message under evaluation, with the derived values conditions share.

    Folding a 1 MB body to lower case or encoding it for RE2 is done once per
    evaluation, however many rules look at it: values are cached by text (a
    string caches its own hash, and a cache hit is found by identity).
    """

    def __init__(self, facts: Facts, context: RulesContext) -> None:
        self.facts = facts
        self.context = context
        self.msg = facts.msg
        self._folded: dict[str, str] = {}
        self._encoded: dict[str, bytes] = {}

    @functools.cached_property
    def body(self) -> str:
        return self.msg.text[:MAX_BODY]

    def fold(self, text: str) -> str:
        """``text`` lower-cased for caseless comparison (cached)."""
        folded = self._folded.get(text)
        if folded is None:
            folded = self._folded[text] = text.casefold()
        return folded

    def utf8(self, text: str) -> bytes:
        """``text`` as UTF-8 for RE2; undecodable bytes (lone surrogates) become '?'."""
        encoded = self._encoded.get(text)
        if encoded is None:
            encoded = self._encoded[text] = text.encode("utf-8", "replace")
        return encoded

    @functools.cached_property
    def local_now(self) -> datetime:
        """``facts.now`` in the context's time zone (a naive time is taken as UTC)."""
        now = self.facts.now
        aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        return aware.astimezone(zone(self.context.timezone))

    @functools.cached_property
    def business_hours(self) -> BusinessHours:
        return parse_business_hours(self.context.business_hours)


class Condition(Protocol):
    """A parsed condition: named for explanations, checked against one message."""

    @property
    def label(self) -> str: ...

    def check(self, view: View) -> Result: ...


def run(condition: Condition, view: View) -> Result:
    """``condition.check(view)``, except that it never raises: a failure is a "no"."""
    try:
        return condition.check(view)
    # Evaluation must never raise for any message; a check that breaks counts as not
    # holding, and the explanation says it could not be evaluated and why.
    except Exception as exc:  # noqa: BLE001
        reason = printable(f"{type(exc).__name__}: {exc}"[:120])
        return Result(False, f"{condition.label}: no (cannot evaluate: {reason})")


@dataclass(frozen=True)
class Entry:
    """One condition key of a mapping, as its kind's parser receives it.

    ``siblings`` are the mapping's other keys: only ``header`` takes any (its
    operators sit beside it). ``depth`` counts the combinators above.
    """

    pair: Pair
    parent: Where
    siblings: tuple[Pair, ...] = ()
    depth: int = 0

    @property
    def where(self) -> Where:
        return self.parent.child(self.pair.key)


@dataclass(frozen=True)
class ConditionKind:
    """A registry entry: how a condition is written, what it means, how it is read."""

    name: str
    usage: str
    description: str
    parse: Callable[[Entry, Reader], Condition | None]
    #: The operators are keys beside the condition's own key (``header: X-Priority``).
    beside: bool = False
