"""The period a report covers, from what a person types: ``30d``, or two dates.

Dates are local days in the desk's time zone, both included: ``--from
2026-11-01 --to 2026-11-30`` is November as the team lived it. What cannot be
read raises ValueError saying what to write instead.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from echodesk.config import duration_seconds
from echodesk.store.figures import MAX_DAYS, Period

#: What a report covers when nothing is said.
DEFAULT_SINCE = "30d"


def parse_period(
    since: str | None, first: str | None, last: str | None, zone: str, now: datetime
) -> Period:
    """``since`` back from now, or local days ``first`` to ``last`` (either may be left out:
    from the beginning of the period before, up to today)."""
    if first or last:
        tz = ZoneInfo(zone)
        begin = _day(first, "from") if first else now.astimezone(tz).date() - timedelta(days=29)
        end = _day(last, "to") if last else now.astimezone(tz).date()
        return Period(_midnight(begin, tz), _midnight(end + timedelta(days=1), tz))
    text = since or DEFAULT_SINCE
    try:
        seconds = duration_seconds(text)
    except ValueError as exc:
        raise ValueError(f"period {text!r}: {exc}") from None
    if not 0 < seconds <= MAX_DAYS * 86400:
        raise ValueError(f"period {text!r}: between 1 minute and {MAX_DAYS} days")
    return Period(now - timedelta(seconds=seconds), now)


def _day(text: str, name: str) -> date:
    try:
        found = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name} {text[:40]!r}: write a date as 2026-11-30") from None
    if not 1970 < found.year < 9999:
        raise ValueError(f"{name} {text[:40]!r}: a date between 1971 and 9998")
    return found


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


__all__ = ["DEFAULT_SINCE", "parse_period"]
