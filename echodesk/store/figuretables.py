"""A report's figures as plain tables: the one shape the CSV files, the screen readers'
tables beside each chart, the charts themselves and ``echodesk report --by`` all read.

Durations are in seconds (a sheet divides as it likes); empty cells are
``None`` (written as nothing in CSV).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from echodesk.store.figures import Figures, Group, Spread, Times, Volume

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One table of a report: a name (for files and URLs), a title, columns and rows."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(tuple("" if cell is None else cell for cell in row) for row in self.rows)
        return out.getvalue()


_TIME_COLUMNS = tuple(
    f"{measure}{clock}_{what}"
    for measure in ("first_response", "resolution")
    for clock in ("", "_business")
    for what in ("median_seconds", "p90_seconds")
)


def _time_cells(times: Times) -> tuple[Cell, ...]:
    spreads = (
        times.first_response,
        times.first_response_business,
        times.resolution,
        times.resolution_business,
    )
    return tuple(cell for spread in spreads for cell in (spread.median, spread.p90))


def times_table(times: Times) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for measure, calendar, business in (
        ("first response", times.first_response, times.first_response_business),
        ("resolution", times.resolution, times.resolution_business),
    ):
        for clock, spread in (("calendar", calendar), ("business hours", business)):
            rows.append((measure, clock, spread.count, spread.median, spread.p90))
    columns = ("measure", "clock", "tickets", "median_seconds", "p90_seconds")
    return Table("times", "Response and resolution times", columns, tuple(rows))


def volume_table(rows: list[Volume], by: str) -> Table:
    return Table(
        "volume",
        f"Tickets opened and resolved per {by}",
        (by, "opened", "resolved"),
        tuple((v.start, v.opened, v.resolved) for v in rows),
    )


def group_table(rows: list[Group], by: str) -> Table:
    columns = (by, "open_now", "opened_in_period", "resolved_in_period", *_TIME_COLUMNS)
    return Table(
        f"{by}s",
        f"Load and times per {by}",
        columns,
        tuple((g.name, g.open, g.opened, g.resolved, *_time_cells(g.times)) for g in rows),
    )


def backlog_table(backlog: dict[str, int]) -> Table:
    return Table("backlog", "Open tickets by age", ("age", "open"), tuple(backlog.items()))


def sla_table(met: dict[str, tuple[int, int]]) -> Table:
    rows = tuple(
        (target.replace("_", " "), ok, n, round(100.0 * ok / n, 1) if n else None)
        for target, (ok, n) in met.items()
    )
    columns = ("target", "met_in_time", "met", "percent_in_time")
    return Table("sla", "SLA targets met in time", columns, rows)


def ratings_table(ratings: dict[str, int]) -> Table:
    return Table("ratings", "Customers' ratings", ("rating", "count"), tuple(ratings.items()))


def summary_rows(found: Figures) -> list[tuple[str, str]]:
    """``metric,value`` pairs of the whole report (the CSV without a breakdown)."""
    rows = [("opened", str(found.opened)), ("resolved", str(found.resolved))]
    for name in ("first_response", "first_response_business", "resolution", "resolution_business"):
        spread: Spread = getattr(found.times, name)
        rows += [
            (f"{name}_count", str(spread.count)),
            (f"{name}_median_seconds", _plain(spread.median)),
            (f"{name}_p90_seconds", _plain(spread.p90)),
        ]
    rows += [(f"backlog {label}", str(n)) for label, n in found.backlog.items()]
    rows += [
        (f"sla {target} met in time", f"{ok}/{n}") for target, (ok, n) in found.sla_met.items()
    ]
    rows += [(f"rating {rating}", str(n)) for rating, n in found.ratings.items()]
    return rows


def breakdown_table(found: Figures) -> Table | None:
    """The table of the report's breakdown, when it has one."""
    if found.by in ("day", "week"):
        return volume_table([r for r in found.rows if isinstance(r, Volume)], found.by)
    if found.by in ("agent", "tag"):
        return group_table([r for r in found.rows if isinstance(r, Group)], found.by)
    return None


def human_duration(seconds: Cell) -> str:
    """Seconds as a person reads them: 45m, 3h 05m, 2d 4h ('-' for none)."""
    if seconds is None or isinstance(seconds, str):
        return "-" if seconds is None else seconds
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, rest = divmod(minutes, 60)
    return f"{hours}h {rest:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def _plain(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


__all__ = [
    "Cell",
    "Table",
    "backlog_table",
    "breakdown_table",
    "group_table",
    "human_duration",
    "ratings_table",
    "sla_table",
    "summary_rows",
    "times_table",
    "volume_table",
]
