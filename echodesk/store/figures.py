"""The desk's figures over a period, computed by SQL on either database.

Medians and 90th percentiles are nearest-rank (the smallest value with at
least that share of the values at or below it), found with ``ROW_NUMBER``
over the values in the database: no ticket is loaded into Python. A
ticket's first response is its first reply to the customer, its resolution
the last time it became resolved or closed; both are measured in calendar
time and in business hours. Business time and local days come from the
:class:`~echodesk.store.workdays.Calendar` the caller builds for the period
(the desk's hours and time zone), joined to each moment by its day. The
period's tickets are read from ``tickets`` once per report, into a
temporary table every figure of the period is grouped from
(:meth:`_Sql.facts`).

A period is ``[start, end)``. Per agent figures are by the ticket's current
assignee; per tag, a ticket with two tags counts under each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.statuses import RATINGS, UNRESOLVED, Status
from echodesk.store.types import as_bound
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
#: The session's table of the period's tickets (temporary: gone when the read ends).
FACTS = "echo_period_tickets"
#: ... and of their tags.
FACT_TAGS = "echo_period_tags"
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
    return sql.period_counts("", "n").get(0, 0), sql.period_counts("", "d").get(0, 0)


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

    def facts(self) -> str:
        """The period's tickets, read once into a temporary table of this reading, and named.

        Every figure of a period (totals, times, volume, each agent's and each
        tag's share) is a question about the same few thousand tickets: those
        opened in it and those resolved in it. Each is read from ``tickets``
        once, with its first reply looked up once (through the replies'
        index), rather than again by each of a report's twenty statements.
        ``n``/``d`` flag a ticket opened / resolved in the period; ``ea`` is
        its opening, ``er`` its first reply (opened ones only), ``ed`` its
        resolution (resolved ones only), in epoch seconds.
        """
        reply = (
            "(SELECT MIN(m.created_at) FROM messages m "
            "WHERE m.ticket_id = t.id AND m.kind = 'reply')"
        )
        return self._temporary(
            FACTS,
            "id BIGINT, assignee_id BIGINT, n INTEGER, d INTEGER, "
            "ea DOUBLE PRECISION, er DOUBLE PRECISION, ed DOUBLE PRECISION",
            f"SELECT t.id, t.assignee_id, CASE WHEN {_NEW} THEN 1 ELSE 0 END, "
            f"CASE WHEN {_DONE} THEN 1 ELSE 0 END, {epoch(self.pg, 't.created_at')}, "
            f"CASE WHEN {_NEW} THEN {epoch(self.pg, reply)} END, "
            f"CASE WHEN {_DONE} THEN {epoch(self.pg, 't.status_changed_at')} END "
            f"FROM tickets t WHERE (({_NEW}) OR ({_DONE})) AND {_LIVE}",
        )

    def fact_tags(self) -> str:
        """The tags of the period's tickets (:meth:`facts`), read from ``ticket_tags`` once
        for the four figures per tag, and named."""
        return self._temporary(
            FACT_TAGS,
            "id BIGINT, tag VARCHAR(100)",
            f"SELECT tt.ticket_id, tt.tag FROM ticket_tags tt JOIN {self.facts()} p "
            "ON p.id = tt.ticket_id",
        )

    def _temporary(self, name: str, columns: str, rows: str) -> str:
        """A temporary table of this reading holding ``rows`` of this period, made once."""
        key = (self.period.start, self.period.end)
        if self.session.info.get(name) == key:
            return name
        scope = "pg_temp" if self.pg else "temp"
        self.session.execute(text(f"DROP TABLE IF EXISTS {scope}.{name}"))
        self.session.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns})"))
        self.session.execute(text(f"INSERT INTO {name} {rows}"), self.params)
        if self.pg:  # row counts for the planner's joins (a new table has none)
            self.session.execute(text(f"ANALYZE {name}"))
        self.session.info[name] = key
        return name

    def reach(self) -> datetime:
        """How far back the calendar must go: tickets resolved in the period may be older
        (never more than ``MAX_DAYS`` before its end; older ones count in calendar time only)."""
        stmt = text(f"SELECT MIN(p.ea) FROM {self.facts()} p WHERE p.d = 1")
        oldest = self.session.execute(stmt).scalar_one_or_none()
        begin = self.period.start
        if oldest is not None:
            begin = min(begin, datetime.fromtimestamp(float(oldest), UTC))
        return max(begin, self.period.end - timedelta(days=MAX_DAYS))

    def grouping(self, by: str, facts: bool = False) -> tuple[str, str, str]:
        """(the group's expression, the join it needs, its GROUP BY) for '', agent or tag,
        of ``tickets t`` (or of the period's tickets ``p`` when ``facts``)."""
        ticket = "p" if facts else "t"
        if by == "agent":
            return f"{ticket}.assignee_id", "", f"{ticket}.assignee_id"
        if by == "tag" and facts:
            return "tt.tag", f"JOIN {self.fact_tags()} tt ON tt.id = p.id", "tt.tag"
        if by == "tag":
            return "tt.tag", "JOIN ticket_tags tt ON tt.ticket_id = t.id", "tt.tag"
        return "0", "", ""

    def counts(self, by: str, where: str) -> dict[Any, int]:
        """Live tickets matching ``where``, per group (for figures not bound to the period)."""
        g, join, group = self.grouping(by)
        clause = f" GROUP BY {group}" if group else ""
        stmt = text(f"SELECT {g}, COUNT(*) FROM tickets t {join} WHERE {where} AND {_LIVE}{clause}")
        return {key: int(n) for key, n in self.session.execute(stmt, self.params)}

    def period_counts(self, by: str, flag: str) -> dict[Any, int]:
        """Tickets opened (``flag`` n) or resolved (d) in the period, per group."""
        g, join, group = self.grouping(by, facts=True)
        clause = f" GROUP BY {group}" if group else ""
        stmt = text(f"SELECT {g}, COUNT(*) FROM {self.facts()} p {join} WHERE p.{flag} = 1{clause}")
        return {key: int(n) for key, n in self.session.execute(stmt)}

    def times(self, by: str, cal: Calendar) -> dict[Any, Times]:
        """First response and resolution spreads per group, in both clocks."""
        g, join, _group = self.grouping(by, facts=True)
        facts = self.facts()
        found: dict[Any, dict[str, Spread]] = {}
        for name, flag, end in (("first_response", "n", "er"), ("resolution", "d", "ed")):
            values = (
                f"SELECT {g} AS g, p.ea AS ea, p.{end} AS eb FROM {facts} p {join} "
                f"WHERE p.{flag} = 1"
            )
            for key, (calendar, business) in self.spreads(values, cal).items():
                found.setdefault(key, {}).update({name: calendar, f"{name}_business": business})
        return {key: Times(**spreads) for key, spreads in found.items()}

    def spreads(self, values: str, cal: Calendar) -> dict[Any, tuple[Spread, Spread]]:
        """Count, median and 90th percentile of ``eb - ea`` per ``g``, in calendar time
        and on ``cal``'s business clock (moments outside the calendar count only in the
        first). One statement: the values are read once, ranked twice
        (:func:`_nearest_ranks`)."""
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
        stmt = text(
            f"WITH o AS MATERIALIZED ({values}), v AS MATERIALIZED ({days}), "
            f"x AS (SELECT v.g AS g, v.eb - v.ea AS xc, {business} AS xb FROM v "
            f"LEFT JOIN {table} wa ON wa.d = v.da LEFT JOIN {table} wb ON wb.d = v.db)"
            f"{_nearest_ranks(self.pg)}"
        )
        return {
            row[0]: (_spread(row[1:4]), _spread(row[4:7]))
            for row in self.session.execute(stmt, self.params)
        }

    def per_day(self, flag: str, moment: str, cal: Calendar, week: bool) -> dict[int, int]:
        """Tickets opened (``flag`` n, ``moment`` ea) or resolved (d, ed) in the period per
        local day (or week) of that moment, by date ordinal."""
        dd = local_day("w", "v.e")
        if week:
            dd = f"({dd} - (({dd} - 1) % 7))"  # ordinal 1 is a Monday
        e, table = f"p.{moment}", install(self.session, cal)
        stmt = text(
            f"WITH v AS MATERIALIZED (SELECT {e} AS e, {day_number(self.pg, e)} AS d "
            f"FROM {self.facts()} p WHERE p.{flag} = 1) "
            f"SELECT {dd} AS dd, COUNT(*) FROM v JOIN {table} w ON w.d = v.d GROUP BY dd"
        )
        return {int(day): int(n) for day, n in self.session.execute(stmt)}


def _nearest_ranks(pg: bool) -> str:
    """The end of :meth:`_Sql.spreads`: per ``g`` of ``x``, the count, median and 90th
    percentile of ``xc`` then of ``xb``, nearest-rank.

    PostgreSQL has it built in: ``percentile_disc`` is the nearest rank (the
    first value whose position reaches the share), one sort per column and
    group. SQLite has no such aggregate: each value is numbered in its group
    and the first numbered at or past the share is picked. The same figures
    either way (the report tests compare both databases with the truth).
    """
    if pg:
        picks = ", ".join(
            f"COUNT({x}), percentile_disc(0.5) WITHIN GROUP (ORDER BY {x}), "
            f"percentile_disc(0.9) WITHIN GROUP (ORDER BY {x})"
            for x in ("xc", "xb")
        )
        return f" SELECT g, {picks} FROM x GROUP BY g"
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
    return f", r AS (SELECT g, xc, xb, {ranks} FROM x) SELECT g, {picks} FROM r GROUP BY g"


def _spread(row: Any) -> Spread:
    n, median, p90 = row
    return Spread(int(n or 0), _rounded(median), _rounded(p90))


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def volume(session: Session, period: Period, cal: Calendar, by: str) -> list[Volume]:
    """Tickets opened and resolved per local day or week of the period, empty ones too."""
    sql, week = _Sql(session, period), by == "week"
    opened = sql.per_day("n", "ea", cal, week)
    resolved = sql.per_day("d", "ed", cal, week)
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
    opened, resolved = sql.period_counts(by, "n"), sql.period_counts(by, "d")
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
