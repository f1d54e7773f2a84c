"""Time on a clock that runs only in business hours, or on the calendar.

An SLA target of "4 hours in business hours" set on Friday at 16:00, with
business hours ``mon-fri 09:00-17:00``, is due on Monday at 12:00. The two
questions every SLA computation asks are here, for both kinds of clock: how
much of the clock ran between two moments (:meth:`Clock.between`), and when
it will have run so long from a moment on (:meth:`Clock.add`).

Business hours are read in the desk's ``timezone``, day by day, so a
daylight-saving change shortens or lengthens the day as the wall clock
does; the moments in and out are UTC. Spans past midnight
(``fri 22:00-02:00``) and overlapping spans count once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from echodesk.rules.clock import MINUTES_PER_DAY, BusinessHours, parse_business_hours
from echodesk.store.workdays import DAY, Calendar, WorkDay

#: How far a business clock looks for working time before it gives up (no spans at all).
_HORIZON_DAYS = 3700
_Interval = tuple[datetime, datetime]


class Clock(Protocol):
    """A clock an SLA target is measured on."""

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds this clock ran from ``start`` to ``end`` (0 when end is not after start)."""
        ...

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment this clock will have run ``seconds`` from ``start``."""
        ...

    def spans(self, start: datetime, end: datetime) -> Iterator[_Interval]:
        """The stretches this clock runs between ``start`` and ``end``, in order, clipped."""
        ...


class CalendarClock:
    """Every second counts."""

    def between(self, start: datetime, end: datetime) -> float:
        return max((end - start).total_seconds(), 0.0)

    def add(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    def spans(self, start: datetime, end: datetime) -> Iterator[_Interval]:
        if end > start:
            yield start, end


class BusinessClock:
    """Only the seconds inside business hours count."""

    def __init__(self, hours: BusinessHours, zone: str) -> None:
        self.hours = hours
        self.zone = ZoneInfo(zone)
        self._days: dict[date, list[_Interval]] = {}

    def between(self, start: datetime, end: datetime) -> float:
        total = 0.0
        for opens, closes in self._intervals(start):
            if opens >= end:
                break
            total += max((min(closes, end) - max(opens, start)).total_seconds(), 0.0)
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        left = max(seconds, 0.0)
        for opens, closes in self._intervals(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            span = (closes - begin).total_seconds()
            if left <= span:
                return begin + timedelta(seconds=left)
            left -= span
        return start + timedelta(days=_HORIZON_DAYS)

    def spans(self, start: datetime, end: datetime) -> Iterator[_Interval]:
        for opens, closes in self._intervals(start):
            if opens >= end:
                break
            if closes > start:
                yield max(opens, start), min(closes, end)

    def _intervals(self, start: datetime) -> Iterator[_Interval]:
        """Working time from the day before ``start``'s local day on, merged, in order."""
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        current: _Interval | None = None
        for offset in range(_HORIZON_DAYS):
            for opens, closes in self._day(day + timedelta(days=offset)):
                if current is not None and opens <= current[1]:
                    current = (current[0], max(current[1], closes))
                    continue
                if current is not None:
                    yield current
                current = (opens, closes)
        if current is not None:
            yield current

    def _day(self, day: date) -> list[_Interval]:
        """The spans that begin on ``day`` (local), as UTC intervals by start."""
        found = self._days.get(day)
        if found is None:
            found = sorted(
                (self._at(day, span.start), self._at(day, _end(span.start, span.end)))
                for span in self.hours.spans
                if day.weekday() in span.days
            )
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = found
        return found

    def _at(self, day: date, minute: int) -> datetime:
        day += timedelta(days=minute // MINUTES_PER_DAY)
        minute %= MINUTES_PER_DAY
        local = datetime.combine(day, time(minute // 60, minute % 60), self.zone)
        return local.astimezone(UTC)


def work_calendar(clock: Clock, zone: str, start: datetime, end: datetime) -> Calendar:
    """The UTC days from ``start`` to ``end`` as a report's SQL joins them: business
    seconds before each day, the day's business spans and its local midnight."""
    tz = ZoneInfo(zone)
    first, last = int(start.timestamp()) // DAY, int(end.timestamp()) // DAY
    origin = datetime.fromtimestamp(first * DAY, UTC)
    spans = [
        (int(a.timestamp()), int(b.timestamp()))
        for a, b in clock.spans(origin, datetime.fromtimestamp((last + 1) * DAY, UTC))
    ]
    days, before, k = [], 0.0, 0
    for number in range(first, last + 1):
        low, high = number * DAY, (number + 1) * DAY
        inside = []
        while k < len(spans) and spans[k][0] < high:
            a, b = spans[k]
            inside.append((max(a, low), min(b, high)))
            if b > high:
                break
            k += 1
        local = datetime.fromtimestamp(low, tz).date()
        midnight = int(datetime.combine(local + timedelta(days=1), time(0), tz).timestamp())
        days.append(
            WorkDay(number, before, tuple(inside), midnight if midnight < high else None,
                    local.toordinal())
        )  # fmt: skip
        before += sum(b - a for a, b in inside)
    return Calendar(tuple(days))


def calendar_for(hours: str, zone: str) -> Callable[[datetime, datetime], Calendar]:
    """The desk's calendar builder for reports: its business hours in its time zone."""
    clock = BusinessClock(parse_business_hours(hours), zone)
    return lambda start, end: work_calendar(clock, zone, start, end)


def _end(start: int, end: int) -> int:
    """A span's end in minutes from the start of its first day (past midnight: > 1440)."""
    return end if end > start else end + MINUTES_PER_DAY


__all__ = ["BusinessClock", "CalendarClock", "Clock", "calendar_for", "work_calendar"]
