"""Business time: what a target of "4 hours in business hours" means on the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from echodesk.desk.tickets.worktime import BusinessClock, CalendarClock
from echodesk.rules.clock import parse_business_hours

BERLIN = "Europe/Berlin"
#: Friday 27 November 2026, 16:00 in Berlin (UTC+1).
FRIDAY_4PM = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def _clock(hours: str = "mon-fri 09:00-17:00", zone: str = BERLIN) -> BusinessClock:
    return BusinessClock(parse_business_hours(hours), zone)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        # One hour left on Friday, three more from Monday 09:00 Berlin.
        (FRIDAY_4PM, 4, datetime(2026, 11, 30, 11, 0, tzinfo=UTC)),
        # Saturday counts nothing: it starts on Monday morning.
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), 2, datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        # Within one day.
        (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), 3, datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),
        # Exactly a working day: Monday 10:00 Berlin to Tuesday 10:00 Berlin.
        (datetime(2026, 11, 30, 9, 0, tzinfo=UTC), 8, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_business_time_skips_nights_and_weekends(
    start: datetime, hours: int, expected: datetime
) -> None:
    clock = _clock()
    due = clock.add(start, hours * 3600)
    assert due == expected
    assert clock.between(start, due) == hours * 3600


def test_a_weekend_in_between_counts_nothing() -> None:
    clock = _clock()
    monday_9 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert clock.between(FRIDAY_4PM, monday_9) == 3600  # Friday's last hour only
    assert clock.between(monday_9, FRIDAY_4PM) == 0


def test_the_day_of_a_clock_change_is_as_long_as_the_wall_clock_says() -> None:
    """Sunday 29 March 2026 Berlin skips 02:00-03:00: a 00:00-24:00 day has 23 hours."""
    clock = _clock("sun 00:00-24:00")
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # Sunday 00:00 CET
    assert clock.between(start, start + timedelta(days=2)) == 23 * 3600


def test_spans_past_midnight_and_overlapping_spans_count_once() -> None:
    clock = _clock("fri 22:00-02:00, sat 00:00-01:00", "UTC")
    friday_10pm = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert clock.between(friday_10pm, friday_10pm + timedelta(days=1)) == 4 * 3600
    assert clock.add(friday_10pm, 3 * 3600) == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def test_the_calendar_clock_counts_every_second() -> None:
    clock = CalendarClock()
    assert clock.add(FRIDAY_4PM, 4 * 3600) == FRIDAY_4PM + timedelta(hours=4)
    assert clock.between(FRIDAY_4PM, FRIDAY_4PM + timedelta(days=2)) == 48 * 3600
