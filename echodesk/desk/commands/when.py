"""When ``#snooze`` and ``#remind`` mean: a moment from the words an agent writes.

``3d``, ``2h``, ``1w``, ``45m`` (from now); ``tomorrow``; a weekday
(``monday``, the next one); a date (``2026-12-24``); each of the last three
with an optional time (``monday 9:00``). The words are read in the desk's
``timezone`` and the result is UTC. Business hours are respected: a day
without a time means the start of that day's business hours (09:00 when
none are set), and a moment "from now" that falls outside them moves to the
next time they begin, so nobody is woken at 3 a.m. An explicit time is
taken as written. A moment in the past, or more than a year ahead, is an
error, as is anything else.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from echodesk.rules.clock import DAYS, BusinessHours, ClockError, parse_business_hours, parse_time

#: The furthest ahead a snooze or a reminder may be.
HORIZON = timedelta(days=366)
#: The time of a day named without one, when there are no business hours.
MORNING = time(9, 0)
_DURATION = re.compile(r"(\d{1,4})\s*(m|min|h|d|w)", re.I)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WEEKDAYS = {name: i for i, name in enumerate(DAYS)} | {
    full: i
    for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
USAGE = "3d, 2h, tomorrow, monday 9:00 or 2026-12-24 (optionally with a time)"


def moment(words: tuple[str, ...], now: datetime, zone: str, hours: str) -> datetime | str:
    """The UTC moment the words name, or why they do not name one."""
    tz = ZoneInfo(zone)
    business = parse_business_hours(hours) if hours else None
    local_now = now.astimezone(tz)
    try:
        found = _read(words, local_now, business)
    except (ClockError, ValueError):
        found = None
    if found is None:
        return f"cannot tell when '{' '.join(words)}' is (write {USAGE})"
    if found <= local_now:
        return f"'{' '.join(words)}' is in the past ({found:%Y-%m-%d %H:%M} {zone})"
    if found - local_now > HORIZON:
        return f"'{' '.join(words)}' is more than a year ahead"
    return found.astimezone(ZoneInfo("UTC"))


def _read(words: tuple[str, ...], now: datetime, business: BusinessHours | None) -> datetime | None:
    if not words or len(words) > 2:
        return None
    head = words[0].lower()
    at = parse_time(words[1]) if len(words) == 2 else None
    if (duration := _DURATION.fullmatch(head)) is not None and at is None:
        later = now + timedelta(**{_UNITS[duration[2].lower()]: int(duration[1])})
        return _in_hours(later, business)
    day = _day(head, now.date())
    if day is None:
        return None
    if at is not None:
        return datetime.combine(day, time(at // 60, at % 60), now.tzinfo)
    return _opening(day, now, business)


def _day(word: str, today: date) -> date | None:
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if word in _WEEKDAYS:
        ahead = (_WEEKDAYS[word] - today.weekday() - 1) % 7 + 1  # the next one, never today
        return today + timedelta(days=ahead)
    return date.fromisoformat(word) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word) else None


def _opening(day: date, now: datetime, business: BusinessHours | None) -> datetime:
    """When business begins on ``day`` (09:00 without business hours, or on a day off)."""
    starts = sorted(s.start for s in business.spans if day.weekday() in s.days) if business else []
    minute = starts[0] if starts else MORNING.hour * 60 + MORNING.minute
    return datetime.combine(day, time(minute // 60, minute % 60), now.tzinfo)


def _in_hours(moment: datetime, business: BusinessHours | None) -> datetime:
    """``moment``, or the next time business hours begin when it falls outside them."""
    if business is None or business.contains(moment):
        return moment
    for offset in range(8):
        day = moment.date() + timedelta(days=offset)
        for span in sorted(business.spans, key=lambda s: s.start):
            start = datetime.combine(day, time(span.start // 60, span.start % 60), moment.tzinfo)
            if day.weekday() in span.days and start > moment:
                return start
    return moment


__all__ = ["HORIZON", "USAGE", "moment"]
