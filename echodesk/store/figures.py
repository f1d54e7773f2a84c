"""The desk's figures over a period, computed by SQL on either database.

Medians and 90th percentiles are nearest-rank (the smallest value with at
least that share of the values at or below it), found with ``ROW_NUMBER``
over the values in the database: no ticket is loaded into Python. A
ticket's first response is its first reply to the customer, its resolution
the last time it became resolved or closed; both are measured in calendar
time and in business hours. Business time and local days come from the
:class:`~echodesk.store.workdays.Calendar` the caller builds for the period
(the desk's hours and time zone), joined to each moment by its day.

A period is ``[start, end)``. Per agent figures are by the ticket's current
assignee; per tag, a ticket with two tags counts under each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.statuses import RATINGS, UNRESOLVED, Status
from echodesk.store.types import UTCDateTime, as_bound
from echodesk.store.workdays import (
    DAY,
    Calendar,
    business_at,
    day_number,
    epoch,
    install,
    local_day,
)

#: Age buckets of the open backlog: (label, lower bound in days).
AGE_BUCKETS = (
    ("under 1 day", 0),
    ("1-3 days", 1),
    ("3-7 days", 3),
    ("7-30 days", 7),
    ("30 days or more", 30),
)
#: The ways a report is broken down.
BREAKDOWNS = ("day", "week", "agent", "tag")
#: The longest period a report covers, and how far back business time is counted.
MAX_DAYS = 3660
#: Builds the working calendar for the UTC days from one moment to another.
CalendarFor = Callable[[datetime, datetime], Calendar]

#: How long after a period a first reply to one of its tickets is still timed in business hours.
_LATE_REPLIES = timedelta(days=400)
_LIVE = "t.merged_into_id IS NULL"
_NEW = "t.created_at >= :start AND t.created_at < :end"
_DONE = (
    f"t.status IN ('{Status.RESOLVED.value}', '{Status.CLOSED.value}') "
    "AND t.status_changed_at >= :start AND t.status_changed_at < :end"
)


@dataclass(frozen=True)
class Period:
    """The moments a report covers, ``[start, end)``."""

    start: datetime
    end: datetime

    def problem(self, now: datetime) -> str:
        """Why this period gives an empty report ('' when it does not)."""
        if self.end <= self.start:
            return "The period ends before it begins: nothing to count."
        if self.end - self.start > timedelta(days=MAX_DAYS):
            return f"The period is longer than {MAX_DAYS} days: choose a shorter one."
        if self.start > now:
            return "The period begins in the future: nothing has happened in it yet."
        return ""


@dataclass(frozen=True)
class Spread:
    """How long something took: how many, the median and the 90th percentile (seconds)."""

    count: int
    median: float | None
    p90: float | None


NO_SPREAD = Spread(0, None, None)


@dataclass(frozen=True)
class Times:
    """First response and resolution, in calendar time and in business hours."""

    first_response: Spread = NO_SPREAD
    first_response_business: Spread = NO_SPREAD
    resolution: Spread = NO_SPREAD
    resolution_business: Spread = NO_SPREAD


@dataclass(frozen=True)
class Group:
    """One agent's or one tag's figures: open now, opened and resolved in the period, times."""

    name: str
    open: int
    opened: int
    resolved: int
    times: Times


@dataclass(frozen=True)
class Volume:
    """Tickets opened and resolved in one local day or week (``start``: its first day)."""

    start: str
    opened: int
    resolved: int


@dataclass(frozen=True)
class Figures:
    start: str
    end: str
    opened: int
    resolved: int
    times: Times
    backlog: dict[str, int]
    sla_met: dict[str, tuple[int, int]]
    ratings: dict[str, int]
    by: str = ""
    rows: list[Volume] | list[Group] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(
    session: Session, period: Period, now: datetime, calendar_for: CalendarFor, by: str = ""
) -> Figures:
    """Everything the report shows for the period, broken down ``by`` day, week, agent or tag."""
    problem = period.problem(now)
    if problem:
        return empty(period, problem)
    cal = calendar(session, period, now, calendar_for)
    opened, resolved = totals(session, period)
    rows: list[Volume] | list[Group] = []
    if by in ("day", "week"):
        rows = volume(session, period, cal, by)
    elif by in ("agent", "tag"):
        rows = groups(session, period, cal, by)
    return Figures(
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        opened=opened,
        resolved=resolved,
        times=times(session, period, cal),
        backlog=backlog(session, now),
        sla_met=sla_met(session, period),
        ratings=ratings(session, period),
        by=by,
        rows=rows,
    )


def calendar(
    session: Session, period: Period, now: datetime, calendar_for: CalendarFor
) -> Calendar:
    """The calendar a period's figures need: back to the oldest ticket resolved in it,
    on to the first replies given after it (up to now)."""
    reach = _Sql(session, period).reach()
    return calendar_for(reach, max(period.end, min(now, period.end + _LATE_REPLIES)))


def totals(session: Session, period: Period) -> tuple[int, int]:
    """Tickets opened, and tickets resolved or closed, in the period."""
    sql = _Sql(session, period)
    return sql.counts("", _NEW).get(0, 0), sql.counts("", _DONE).get(0, 0)


def times(session: Session, period: Period, cal: Calendar) -> Times:
    """First response and resolution spreads of the whole period, in both clocks."""
    return _Sql(session, period).times("", cal).get(0, Times())


def empty(period: Period, message: str) -> Figures:
    """The report of a period with nothing in it, saying why."""
    return Figures(
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        opened=0,
        resolved=0,
        times=Times(),
        backlog={label: 0 for label, _ in AGE_BUCKETS},
        sla_met={},
        ratings={rating: 0 for rating in RATINGS},
        message=message,
    )


class _Sql:
    """The statements of one report: the dialect, the period's parameters, the grouping."""

    def __init__(self, session: Session, period: Period) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.period = period
        self.params = {
            "start": as_bound(self.pg, period.start),
            "end": as_bound(self.pg, period.end),
        }

    def reach(self) -> datetime:
        """How far back the calendar must go: tickets resolved in the period may be older
        (never more than ``MAX_DAYS`` before its end; older ones count in calendar time only)."""
        stmt = text(
            f"SELECT MIN(t.created_at) AS oldest FROM tickets t WHERE {_DONE} AND {_LIVE}"
        ).columns(oldest=UTCDateTime())
        oldest = self.session.execute(stmt, self.params).scalar_one_or_none()
        begin = self.period.start if oldest is None else min(self.period.start, oldest)
        return max(begin, self.period.end - timedelta(days=MAX_DAYS))

    @staticmethod
    def grouping(by: str) -> tuple[str, str, str]:
        """(the group's expression, the join it needs, its GROUP BY) for '', agent or tag."""
        if by == "agent":
            return "t.assignee_id", "", "t.assignee_id"
        if by == "tag":
            return "tt.tag", "JOIN ticket_tags tt ON tt.ticket_id = t.id", "tt.tag"
        return "0", "", ""

    def counts(self, by: str, where: str) -> dict[Any, int]:
        """Tickets matching ``where``, per group."""
        g, join, group = self.grouping(by)
        clause = f" GROUP BY {group}" if group else ""
        stmt = text(f"SELECT {g}, COUNT(*) FROM tickets t {join} WHERE {where} AND {_LIVE}{clause}")
        return {key: int(n) for key, n in self.session.execute(stmt, self.params)}

    def times(self, by: str, cal: Calendar) -> dict[Any, Times]:
        """First response and resolution spreads per group, in both clocks."""
        g, join, _group = self.grouping(by)
        # The first reply looked up per ticket (through the ticket's messages index),
        # not by joining every message of the period's tickets and grouping them.
        reply = (
            "(SELECT MIN(m.created_at) FROM messages m "
            "WHERE m.ticket_id = t.id AND m.kind = 'reply')"
        )
        first = (
            f"SELECT {g} AS g, {epoch(self.pg, 't.created_at')} AS ea, "
            f"{epoch(self.pg, reply)} AS eb FROM tickets t {join} WHERE {_NEW} AND {_LIVE}"
        )
        done = (
            f"SELECT {g} AS g, {epoch(self.pg, 't.created_at')} AS ea, "
            f"{epoch(self.pg, 't.status_changed_at')} AS eb FROM tickets t {join} "
            f"WHERE {_DONE} AND {_LIVE}"
        )
        found: dict[Any, dict[str, Spread]] = {}
        for name, values in (("first_response", first), ("resolution", done)):
            for key, (calendar, business) in self.spreads(values, cal).items():
                found.setdefault(key, {}).update({name: calendar, f"{name}_business": business})
        return {key: Times(**spreads) for key, spreads in found.items()}

    def spreads(self, values: str, cal: Calendar) -> dict[Any, tuple[Spread, Spread]]:
        """Count, median and 90th percentile of ``eb - ea`` per ``g``, in calendar time
        and on ``cal``'s business clock (moments outside the calendar count only in the
        first). One statement: the values are read once, ranked twice."""
        table = install(self.session, cal)
        width = cal.width
        business = (
            f"{business_at(self.pg, 'wb', 'v.eb', width)} - "
            f"{business_at(self.pg, 'wa', 'v.ea', width)}"
        )
        # The values are read once (a ticket without a reply has eb NULL: counted
        # nowhere); the day numbers are columns of their own, looked up by the key.
        days = (
            f"SELECT g, ea, eb, {day_number(self.pg, 'ea')} AS da, "
            f"{day_number(self.pg, 'eb')} AS db FROM o"
        )
        ranks = ", ".join(
            f"ROW_NUMBER() OVER (PARTITION BY g ORDER BY CASE WHEN {x} IS NULL THEN 1 "
            f"ELSE 0 END, {x}) AS r{x}, COUNT({x}) OVER (PARTITION BY g) AS n{x}"
            for x in ("xc", "xb")
        )
        picks = ", ".join(
            f"MAX(n{x}), MIN(CASE WHEN r{x} >= 0.5 * n{x} THEN {x} END), "
            f"MIN(CASE WHEN r{x} >= 0.9 * n{x} THEN {x} END)"
            for x in ("xc", "xb")
        )
        stmt = text(
            f"WITH o AS MATERIALIZED ({values}), v AS MATERIALIZED ({days}), "
            f"x AS (SELECT v.g AS g, v.eb - v.ea AS xc, {business} AS xb FROM v "
            f"LEFT JOIN {table} wa ON wa.d = v.da LEFT JOIN {table} wb ON wb.d = v.db), "
            f"r AS (SELECT g, xc, xb, {ranks} FROM x) "
            f"SELECT g, {picks} FROM r GROUP BY g"
        )
        return {
            row[0]: (_spread(row[1:4]), _spread(row[4:7]))
            for row in self.session.execute(stmt, self.params)
        }

    def per_day(self, column: str, where: str, cal: Calendar, week: bool) -> dict[int, int]:
        """Tickets matching ``where`` per local day (or week) of ``column``, by date ordinal."""
        dd = local_day("w", "v.e")
        if week:
            dd = f"({dd} - (({dd} - 1) % 7))"  # ordinal 1 is a Monday
        e, table = epoch(self.pg, column), install(self.session, cal)
        stmt = text(
            f"WITH v AS MATERIALIZED (SELECT {e} AS e, "
            f"{day_number(self.pg, e)} AS d FROM tickets t WHERE {where} AND {_LIVE}) "
            f"SELECT {dd} AS dd, COUNT(*) FROM v JOIN {table} w ON w.d = v.d GROUP BY dd"
        )
        return {int(day): int(n) for day, n in self.session.execute(stmt, self.params)}


def _spread(row: Any) -> Spread:
    n, median, p90 = row
    return Spread(int(n or 0), _rounded(median), _rounded(p90))


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def volume(session: Session, period: Period, cal: Calendar, by: str) -> list[Volume]:
    """Tickets opened and resolved per local day or week of the period, empty ones too."""
    sql, week = _Sql(session, period), by == "week"
    opened = sql.per_day("t.created_at", _NEW, cal, week)
    resolved = sql.per_day("t.status_changed_at", _DONE, cal, week)
    first = cal.local_day_of(period.start.timestamp())
    last = cal.local_day_of(period.end.timestamp() - 0.001)
    if week:
        first -= (first - 1) % 7
    step = 7 if week else 1
    return [
        Volume(date.fromordinal(day).isoformat(), opened.get(day, 0), resolved.get(day, 0))
        for day in range(first, last + 1, step)
    ]


def groups(session: Session, period: Period, cal: Calendar, by: str) -> list[Group]:
    """Each agent's (by current assignee) or tag's figures, busiest first."""
    sql = _Sql(session, period)
    live = sql.counts(by, f"t.status IN ({', '.join(repr(s) for s in UNRESOLVED)})")
    opened, resolved = sql.counts(by, _NEW), sql.counts(by, _DONE)
    times = sql.times(by, cal)
    names = _agent_names(session) if by == "agent" else {}
    keys = set(live) | set(opened) | set(resolved) | set(times)
    found = [
        Group(
            name=names.get(key, "unassigned") if by == "agent" else str(key),
            open=live.get(key, 0),
            opened=opened.get(key, 0),
            resolved=resolved.get(key, 0),
            times=times.get(key, Times()),
        )
        for key in keys
    ]
    return sorted(found, key=lambda g: (-g.open - g.opened, g.name))


def _agent_names(session: Session) -> dict[Any, str]:
    rows = session.execute(text("SELECT id, name, email FROM agents"))
    return {agent_id: name or email for agent_id, name, email in rows}


def backlog(session: Session, now: datetime) -> dict[str, int]:
    """Unresolved tickets now, by how long ago they were opened."""
    pg = session.get_bind().dialect.name == "postgresql"
    cases = " ".join(
        f"WHEN t.created_at <= :b{i} THEN '{label}'"
        for i, (label, _days) in reversed(list(enumerate(AGE_BUCKETS)))
    )
    params = {
        f"b{i}": as_bound(pg, now - timedelta(days=days)) for i, (_, days) in enumerate(AGE_BUCKETS)
    }
    statuses = ", ".join(f"'{s}'" for s in UNRESOLVED)
    stmt = text(
        f"SELECT CASE {cases} END AS bucket, COUNT(*) FROM tickets t "
        f"WHERE t.status IN ({statuses}) AND {_LIVE} GROUP BY bucket"
    )
    found = {str(b): int(n) for b, n in session.execute(stmt, params) if b is not None}
    return {label: found.get(label, 0) for label, _ in AGE_BUCKETS}


def sla_met(session: Session, period: Period) -> dict[str, tuple[int, int]]:
    """Per SLA target: (met in time, all met) in the period."""
    stmt = text(
        "SELECT target, SUM(CASE WHEN in_time THEN 1 ELSE 0 END), COUNT(*) FROM sla_results "
        "WHERE met_at >= :start AND met_at < :end GROUP BY target ORDER BY target"
    )
    params = _Sql(session, period).params
    return {str(t): (int(ok or 0), int(n)) for t, ok, n in session.execute(stmt, params)}


def ratings(session: Session, period: Period) -> dict[str, int]:
    """Customers' ratings given or changed in the period."""
    stmt = text(
        "SELECT rating, COUNT(*) FROM ratings WHERE changed_at >= :start AND changed_at < :end "
        "GROUP BY rating"
    )
    found = {str(r): int(n) for r, n in session.execute(stmt, _Sql(session, period).params)}
    return {rating: found.get(rating, 0) for rating in RATINGS}


__all__ = [
    "AGE_BUCKETS",
    "BREAKDOWNS",
    "DAY",
    "MAX_DAYS",
    "CalendarFor",
    "Figures",
    "Group",
    "Period",
    "Spread",
    "Times",
    "Volume",
    "backlog",
    "calendar",
    "empty",
    "figures",
    "groups",
    "ratings",
    "sla_met",
    "times",
    "totals",
    "volume",
]
