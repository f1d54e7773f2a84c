"""The desk's working calendar as a table the database can join, for reports.

A report asks "how long in business hours" and "on which local day" of
thousands of moments. Neither is a function SQLite has (it knows no time
zones), and answering them in Python would mean loading every ticket. So
the caller hands the figures a :class:`Calendar`: one row per UTC day of
the period, holding the business seconds counted before that day began,
the business spans inside it, and the local midnight that falls in it. The
SQL joins each moment to its day's row by the day's number (a temporary
table of the reading transaction, :func:`install`) and finds both answers
by arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

DAY = 86400


@dataclass(frozen=True)
class WorkDay:
    """One UTC day (``number`` = epoch seconds // 86400) of the calendar.

    ``before``: business seconds from the calendar's start to this day's start;
    ``spans``: the business spans inside the day, in epoch seconds;
    ``midnight``: the local midnight inside the day (epoch), or None;
    ``local_day``: the proleptic ordinal of the local date at the day's start.
    """

    number: int
    before: float
    spans: tuple[tuple[int, int], ...]
    midnight: int | None
    local_day: int


@dataclass(frozen=True)
class Calendar:
    """The days a report's moments fall on, in order, without gaps."""

    days: tuple[WorkDay, ...]

    @property
    def width(self) -> int:
        """The most business spans any one day has (at least one column pair)."""
        return max((len(day.spans) for day in self.days), default=0) or 1

    def local_day_of(self, seconds: float) -> int:
        """The local date's ordinal of an epoch moment inside the calendar."""
        first = self.days[0].number if self.days else 0
        index = min(max(int(seconds // DAY) - first, 0), len(self.days) - 1)
        day = self.days[index]
        return day.local_day + (1 if day.midnight is not None and seconds >= day.midnight else 0)

    def rows(self) -> list[dict[str, float | int]]:
        """The days as rows of the ``workdays`` table (unused span columns hold 0, 0)."""
        width, found = self.width, []
        for day in self.days:
            spans = list(day.spans) + [(0, 0)] * (width - len(day.spans))
            row: dict[str, float | int] = {
                "d": day.number,
                "c": float(day.before),
                "m": day.midnight if day.midnight is not None else (day.number + 2) * DAY,
                "lo": day.local_day,
            }
            for k, (start, end) in enumerate(spans):
                row[f"s{k}"], row[f"e{k}"] = start, end
            found.append(row)
        return found


#: The session's table of the calendar (temporary: gone when the read ends).
TABLE = "echo_workdays"


def install(session: Session, cal: Calendar) -> str:
    """Put ``cal`` into a temporary table of this session, keyed by day, and name it.

    A temporary table, rather than the days written into each statement, so
    that every moment finds its day through the key (a join against a list
    of constant rows scans the list for each moment). The table lives in the
    reading transaction only: nothing is left in the database.
    """
    if session.info.get(TABLE) is cal:
        return TABLE
    pg = session.get_bind().dialect.name == "postgresql"
    session.execute(text(f"DROP TABLE IF EXISTS {'pg_temp' if pg else 'temp'}.{TABLE}"))
    spans = ", ".join(f"s{k} BIGINT, e{k} BIGINT" for k in range(cal.width))
    key = "BIGINT PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {TABLE} (d {key}, c DOUBLE PRECISION, m BIGINT, "
            f"lo BIGINT, {spans})"
        )
    )
    rows = cal.rows()
    if rows:
        names = list(rows[0])
        values = ", ".join(f":{name}" for name in names)
        session.execute(text(f"INSERT INTO {TABLE} ({', '.join(names)}) VALUES ({values})"), rows)
    session.info[TABLE] = cal
    return TABLE


def epoch(pg: bool, column: str) -> str:
    """A timestamp column as seconds since 1970 (UTC)."""
    if pg:  # as a float: EXTRACT gives numeric, whose sums and sorts are slower
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def day_number(pg: bool, seconds: str) -> str:
    """The UTC day an epoch moment falls on, as the calendar numbers them."""
    if pg:
        return f"CAST(FLOOR(({seconds}) / {DAY}) AS BIGINT)"
    return f"CAST(({seconds}) / {DAY} AS INTEGER)"


def business_at(pg: bool, row: str, seconds: str, width: int) -> str:
    """Business seconds from the calendar's start to ``seconds``, read off its day ``row``."""
    most, least = ("GREATEST", "LEAST") if pg else ("MAX", "MIN")
    parts = [f"{most}(0, {least}({seconds}, {row}.e{k}) - {row}.s{k})" for k in range(width)]
    return f"({row}.c + {' + '.join(parts)})"


def local_day(row: str, seconds: str) -> str:
    """The local date's ordinal of ``seconds``, read off its day ``row``."""
    return f"({row}.lo + CASE WHEN {seconds} >= {row}.m THEN 1 ELSE 0 END)"


__all__ = [
    "DAY",
    "TABLE",
    "Calendar",
    "WorkDay",
    "business_at",
    "day_number",
    "epoch",
    "install",
    "local_day",
]
