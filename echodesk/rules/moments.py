"""Conditions on when the message arrived: business hours, weekday, time of day.

All read ``facts.now`` in the context's time zone (never the clock), so the
same facts give the same answer, and ``rules test`` can ask "what if this
came in on Saturday night?".
"""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import SequenceNode

from echodesk.rules.base import Condition, Entry, Result, View, verdict
from echodesk.rules.clock import (
    ClockError,
    in_window,
    minute_of_day,
    parse_days,
    parse_time,
    show_moment,
)
from echodesk.rules.nodes import Reader, describe


def _now(view: View) -> str:
    return show_moment(view.local_now, view.context.timezone)


@dataclass(frozen=True)
class BusinessHoursCondition:
    inside: bool

    @property
    def label(self) -> str:
        return "business hours" if self.inside else "outside business hours"

    def check(self, view: View) -> Result:
        inside = view.business_hours.contains(view.local_now)
        detail = f"{_now(view)}; business hours {view.business_hours.text}"
        return verdict(self.label, inside == self.inside, detail)


@dataclass(frozen=True)
class Weekday:
    days: frozenset[int]
    shown: str

    @property
    def label(self) -> str:
        return f"weekday {self.shown}"

    def check(self, view: View) -> Result:
        return verdict(self.label, view.local_now.weekday() in self.days, _now(view))


@dataclass(frozen=True)
class TimeBetween:
    """From ``start`` (included) to ``end`` (excluded), in minutes; wraps past midnight."""

    start: int
    end: int
    shown: str

    @property
    def label(self) -> str:
        return f"time between {self.shown}"

    def check(self, view: View) -> Result:
        held = in_window(minute_of_day(view.local_now), self.start, self.end)
        return verdict(self.label, held, _now(view))


def parse_business_hours_condition(entry: Entry, r: Reader) -> Condition | None:
    inside = r.flag(entry.pair.value, entry.where)
    return None if inside is None else BusinessHoursCondition(inside)


def parse_weekday(entry: Entry, r: Reader) -> Condition | None:
    found = r.texts(entry.pair.value, entry.where, "weekdays like [mon, tue] or mon-fri")
    if found is None:
        return None
    days: set[int] = set()
    for node, text in found:
        try:
            days |= parse_days(text)
        except ClockError as exc:
            r.problem(node, entry.where, f"{exc}, or a range like mon-fri")
            return None
    return Weekday(frozenset(days), ", ".join(text.strip().lower() for _, text in found))


def parse_time_condition(entry: Entry, r: Reader) -> Condition | None:
    """``time: {between: ["18:00", "08:00"]}``."""
    pairs = r.mapping(entry.pair.value, entry.where, 'a mapping like {between: ["18:00", "08:00"]}')
    if pairs is None:
        return None
    if not pairs:
        r.problem(entry.pair.value, entry.where, "no operator (use between)")
        return None
    if [p.key for p in pairs] != ["between"]:
        for pair in pairs:
            if pair.key != "between":
                r.problem(
                    pair.key_node, entry.where, f"unknown operator '{pair.key}' (use between)"
                )
        return None
    node, where = pairs[0].value, entry.where.child("between")
    if not isinstance(node, SequenceNode) or len(node.value) != 2:
        r.problem(node, where, f'expected two times like ["18:00", "08:00"], got {describe(node)}')
        return None
    found = r.texts(node, where, "a time like 18:00")
    if found is None:
        return None
    times = []
    for index, (item, text) in enumerate(found):
        try:
            times.append(parse_time(text, end=index == 1))
        except ClockError as exc:
            r.problem(item, where.at(index), str(exc))
    if len(times) != 2:
        return None
    start, end = times
    if start == end:
        r.problem(node, where, "the start and end times are the same (the span is empty)")
        return None
    return TimeBetween(start, end, f"{found[0][1].strip()} and {found[1][1].strip()}")
