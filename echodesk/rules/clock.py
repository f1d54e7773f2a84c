"""Days of the week, times of day and business hours, as rules and settings write them.

Pure functions over plain values, shared by the time conditions and by
:class:`~echodesk.rules.facts.RulesContext` (which checks its business-hours
text when it is built, so a typo fails at start-up and not on the first mail).

Business hours are written ``DAYS HH:MM-HH:MM`` with several spans separated by
commas: ``mon-fri 09:00-17:00, sat 10:00-14:00``. A span whose end is before its
start runs past midnight into the next day (``fri 22:00-02:00`` is Friday night).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from echodesk.errors import RuleError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_HHMM = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")


class ClockError(RuleError):
    """A day, time or business-hours text is malformed (the message says how)."""


def parse_day(text: str) -> int:
    """0 for ``mon`` ... 6 for ``sun`` (any case)."""
    key = text.strip().lower()
    if key not in DAYS:
        raise ClockError(f"bad weekday '{text}' (use {', '.join(DAYS)})")
    return DAYS.index(key)


def parse_days(text: str) -> frozenset[int]:
    """One day (``sat``) or a range (``mon-fri``; ``fri-mon`` wraps past Sunday)."""
    first, dash, last = text.partition("-")
    start = parse_day(first)
    if not dash:
        return frozenset({start})
    end = parse_day(last)
    return frozenset((start + i) % 7 for i in range((end - start) % 7 + 1))


def parse_time(text: str, *, end: bool = False) -> int:
    """Minutes after midnight for ``HH:MM`` (24-hour clock; ``24:00`` only as an end)."""
    found = _HHMM.fullmatch(text.strip())
    minutes = int(found[1]) * 60 + int(found[2]) if found else -1
    if not found or minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not end):
        raise ClockError(f"bad time '{text}' (use HH:MM on a 24-hour clock, like 08:30)")
    return minutes


def in_window(minute: int, start: int, end: int) -> bool:
    """Whether ``minute`` is in [start, end); a window with end < start wraps midnight."""
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def minute_of_day(moment: datetime) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class Span:
    """Some days, from ``start`` to ``end`` minutes; past midnight when end < start."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, moment: datetime) -> bool:
        day, minute = moment.weekday(), minute_of_day(moment)
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        # A night span: the evening belongs to its day, the small hours to the day before.
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )


@dataclass(frozen=True)
class BusinessHours:
    text: str
    spans: tuple[Span, ...]

    def contains(self, moment: datetime) -> bool:
        """Whether the local time ``moment`` falls in any span."""
        return any(span.contains(moment) for span in self.spans)


@functools.lru_cache(maxsize=64)
def parse_business_hours(text: str) -> BusinessHours:
    """``mon-fri 09:00-17:00, sat 10:00-14:00`` -> BusinessHours; ClockError says what is wrong."""
    spans = tuple(_span(part) for part in text.split(","))
    return BusinessHours(text=text, spans=spans)


def _span(part: str) -> Span:
    words = part.split()
    if len(words) != 2 or "-" not in words[1]:
        raise ClockError(
            f"bad business hours '{part.strip()}' (write DAYS HH:MM-HH:MM, "
            "like 'mon-fri 09:00-17:00', several separated by commas)"
        )
    first, _, last = words[1].partition("-")
    start, end = parse_time(first), parse_time(last, end=True)
    if start == end:
        raise ClockError(f"bad business hours '{part.strip()}' (the span is empty)")
    return Span(days=parse_days(words[0]), start=start, end=end)


def show_moment(moment: datetime, zone: str) -> str:
    """``Mon 10:15 Europe/Berlin``: a local time as a ``why`` shows it."""
    return f"{DAYS[moment.weekday()].title()} {moment:%H:%M} {zone}"
