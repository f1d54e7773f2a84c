"""Business hours, weekday and time of day, in the context's time zone, across midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from echodesk.errors import RuleError
from echodesk.rules import RulesContext
from echodesk.rules.clock import ClockError, parse_business_hours, parse_days
from tests.rules.support import judge

BERLIN = RulesContext(timezone="Europe/Berlin")
TOKYO = RulesContext(timezone="Asia/Tokyo")
NEW_YORK = RulesContext(timezone="America/New_York")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026 (the 2nd is a Monday), in UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_business_hours_depend_on_the_time_zone() -> None:
    # 08:30 UTC on Monday is 09:30 in Berlin (CET, UTC+1): open there, not yet in UTC.
    now = utc(2, 8, 30)
    outcome = judge("business_hours: true", now=now, context=BERLIN)
    assert (outcome.matched, outcome.why) == (
        True,
        "business hours: yes (Mon 09:30 Europe/Berlin; business hours mon-fri 09:00-17:00)",
    )
    outcome = judge("business_hours: true", now=now)
    assert (outcome.matched, outcome.why) == (
        False,
        "business hours: no (Mon 08:30 UTC; business hours mon-fri 09:00-17:00)",
    )
    assert judge("business_hours: false", now=now).why == (
        "outside business hours: yes (Mon 08:30 UTC; business hours mon-fri 09:00-17:00)"
    )


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (utc(2, 9, 0), True),  # start included
        (utc(2, 16, 59), True),
        (utc(2, 17, 0), False),  # end excluded
        (utc(2, 8, 59), False),
        (utc(6, 12, 0), True),  # Friday
        (utc(7, 12, 0), False),  # Saturday
    ],
)
def test_business_hours_edges(now: datetime, inside: bool) -> None:
    assert judge("business_hours: true", now=now).matched is inside


def test_business_hours_with_several_spans_and_a_night_shift() -> None:
    context = RulesContext(
        business_hours="mon-fri 09:00-12:00, mon-fri 13:00-17:00, fri 22:00-02:00"
    )
    assert judge("business_hours: true", now=utc(2, 12, 30), context=context).matched is False
    assert judge("business_hours: true", now=utc(2, 13, 0), context=context).matched
    assert judge("business_hours: true", now=utc(6, 23, 0), context=context).matched  # Fri night
    assert judge("business_hours: true", now=utc(7, 1, 59), context=context).matched  # Sat 01:59
    assert judge("business_hours: true", now=utc(7, 2, 0), context=context).matched is False
    assert judge("business_hours: true", now=utc(3, 1, 0), context=context).matched is False


def test_round_the_clock_hours() -> None:
    context = RulesContext(business_hours="mon-sun 00:00-24:00")
    assert judge("business_hours: true", now=utc(8, 23, 59), context=context).matched
    assert judge("business_hours: true", now=utc(8, 0, 0), context=context).matched


def test_weekday_in_the_time_zone_across_midnight() -> None:
    # Sunday 23:30 UTC is already Monday 08:30 in Tokyo.
    now = utc(8, 23, 30)
    assert judge("weekday: [sat, sun]", now=now).why == "weekday sat, sun: yes (Sun 23:30 UTC)"
    outcome = judge("weekday: [sat, sun]", now=now, context=TOKYO)
    assert (outcome.matched, outcome.why) == (False, "weekday sat, sun: no (Mon 08:30 Asia/Tokyo)")
    assert judge("weekday: mon", now=now, context=TOKYO).matched


def test_weekday_ranges_and_single_days() -> None:
    assert judge("weekday: mon-fri", now=utc(4, 12)).matched  # Wednesday
    assert judge("weekday: mon-fri", now=utc(7, 12)).matched is False
    assert judge("weekday: [fri-mon]", now=utc(8, 12)).why == "weekday fri-mon: yes (Sun 12:00 UTC)"
    assert judge("weekday: [fri-mon]", now=utc(3, 12)).matched is False  # Tuesday
    assert judge("weekday: [Tue, thu]", now=utc(5, 12)).matched


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (utc(2, 18, 0), True),  # start included
        (utc(2, 23, 59), True),
        (utc(3, 0, 0), True),
        (utc(3, 7, 59), True),
        (utc(3, 8, 0), False),  # end excluded
        (utc(2, 17, 59), False),
        (utc(2, 12, 0), False),
    ],
)
def test_time_between_wraps_past_midnight(now: datetime, inside: bool) -> None:
    assert judge('time: {between: ["18:00", "08:00"]}', now=now).matched is inside


def test_time_between_within_a_day_and_unquoted() -> None:
    # Unquoted 18:00 would be YAML 1.1's sexagesimal 1080; the rules read it as written.
    outcome = judge("time: {between: [12:00, 18:00]}", now=utc(2, 13, 15))
    assert (outcome.matched, outcome.why) == (
        True,
        "time between 12:00 and 18:00: yes (Mon 13:15 UTC)",
    )
    assert judge("time: {between: [12:00, 18:00]}", now=utc(2, 18, 0)).matched is False


def test_time_in_a_zone_with_daylight_saving() -> None:
    # 23:30 UTC on 1 July is 19:30 in New York (EDT, UTC-4); in November (EST) 18:30.
    summer = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    winter = utc(2, 23, 30)
    rule = 'time: {between: ["19:00", "20:00"]}'
    assert judge(rule, now=summer, context=NEW_YORK).why == (
        "time between 19:00 and 20:00: yes (Wed 19:30 America/New_York)"
    )
    assert judge(rule, now=winter, context=NEW_YORK).matched is False


def test_now_in_another_offset_and_naive_now() -> None:
    plus_two = datetime(2026, 11, 2, 11, 0, tzinfo=timezone(timedelta(hours=2)))  # 09:00 UTC
    assert judge("business_hours: true", now=plus_two).why.startswith(
        "business hours: yes (Mon 09:00 UTC"
    )
    naive = datetime(2026, 11, 2, 8, 0)  # taken as UTC
    assert judge("business_hours: true", now=naive).why.startswith(
        "business hours: no (Mon 08:00 UTC"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mon-fri 9-17", "bad time '9' (use HH:MM on a 24-hour clock, like 08:30)"),
        (
            "mon-fri",
            "bad business hours 'mon-fri' (write DAYS HH:MM-HH:MM, like 'mon-fri 09:00-17:00', "
            "several separated by commas)",
        ),
        ("mo-fr 09:00-17:00", "bad weekday 'mo' (use mon, tue, wed, thu, fri, sat, sun)"),
        ("mon-fri 09:00-09:00", "bad business hours 'mon-fri 09:00-09:00' (the span is empty)"),
        ("mon 24:00-08:00", "bad time '24:00' (use HH:MM on a 24-hour clock, like 08:30)"),
        ("mon 08:00-24:01", "bad time '24:01' (use HH:MM on a 24-hour clock, like 08:30)"),
        (
            "",
            "bad business hours '' (write DAYS HH:MM-HH:MM, like 'mon-fri 09:00-17:00', "
            "several separated by commas)",
        ),
    ],
)
def test_bad_business_hours(text: str, problem: str) -> None:
    with pytest.raises(ClockError) as caught:
        parse_business_hours(text)
    assert str(caught.value) == problem
    with pytest.raises(RuleError) as refused:
        RulesContext(business_hours=text)
    assert str(refused.value) == f"business_hours: {problem}"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone: unknown IANA time zone 'Mars/Olympus'"),
        ({"timezone": "../etc"}, "timezone: unknown IANA time zone '../etc'"),
        ({"timezone": ""}, "timezone: unknown IANA time zone ''"),
        ({"spam_headers": ("x spam",)}, "spam_headers: not a header name: 'x spam'"),
    ],
)
def test_context_refuses_unknown_zones_and_bad_spam_headers(
    settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(RuleError) as caught:
        RulesContext(**settings)
    assert str(caught.value) == problem


def test_parse_days() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sat-mon") == frozenset({5, 6, 0})
    assert parse_days("SUN") == frozenset({6})
    assert parse_days("wed-wed") == frozenset({2})
