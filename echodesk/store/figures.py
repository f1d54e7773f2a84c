"""The desk's weekly figures, computed by SQL on either database.

Medians and 90th percentiles are nearest-rank (the smallest value with at
least that share of the values at or below it), found with ``ROW_NUMBER``
over the values in the database: no ticket is loaded into Python. Times are
calendar time in seconds; a ticket's first response is its first reply to
the customer, its resolution the last time it became resolved or closed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from echodesk.statuses import RATINGS, UNRESOLVED, Status

#: Age buckets of the open backlog: (label, lower bound in days).
AGE_BUCKETS = (
    ("under 1 day", 0),
    ("1-3 days", 1),
    ("3-7 days", 3),
    ("7-30 days", 7),
    ("30 days or more", 30),
)


@dataclass(frozen=True)
class Spread:
    """How long something took: how many, the median and the 90th percentile (seconds)."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Figures:
    since: str
    opened: int
    resolved: int
    first_response: Spread
    resolution: Spread
    backlog: dict[str, int]
    sla_met: dict[str, tuple[int, int]]
    ratings: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(pg: bool, later: str, earlier: str) -> str:
    if pg:
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _spread(session: Session, values: str, params: dict[str, Any]) -> Spread:
    """The count, median and 90th percentile of the ``x`` column of ``values``."""
    stmt = text(
        f"WITH v AS ({values}), "
        "r AS (SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS rn, COUNT(*) OVER () AS n "
        "FROM v WHERE x IS NOT NULL) "
        "SELECT MAX(n), MIN(CASE WHEN rn >= 0.5 * n THEN x END), "
        "MIN(CASE WHEN rn >= 0.9 * n THEN x END) FROM r"
    )
    n, median, p90 = session.execute(stmt, params).one()
    return Spread(int(n or 0), _rounded(median), _rounded(p90))


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


def _bind(pg: bool, moment: datetime) -> datetime:
    """A moment as the database compares it (SQLite keeps UTC without an offset)."""
    return moment if pg else moment.replace(tzinfo=None)


def figures(session: Session, since: datetime, now: datetime) -> Figures:
    """Everything the report shows for tickets since ``since``."""
    pg = session.get_bind().dialect.name == "postgresql"
    params = {"since": _bind(pg, since)}
    live = "t.merged_into_id IS NULL"
    first = (
        "SELECT " + _seconds(pg, "MIN(m.created_at)", "t.created_at") + " AS x "
        "FROM tickets t JOIN messages m ON m.ticket_id = t.id AND m.kind = 'reply' "
        f"WHERE t.created_at >= :since AND {live} GROUP BY t.id, t.created_at"
    )
    done = (
        f"t.status IN ('{Status.RESOLVED.value}', '{Status.CLOSED.value}') "
        "AND t.status_changed_at >= :since"
    )
    resolution = (
        f"SELECT {_seconds(pg, 't.status_changed_at', 't.created_at')} AS x "
        f"FROM tickets t WHERE {done} AND {live}"
    )
    opened = session.execute(
        text(f"SELECT COUNT(*) FROM tickets t WHERE t.created_at >= :since AND {live}"), params
    ).scalar_one()
    resolved = session.execute(
        text(f"SELECT COUNT(*) FROM tickets t WHERE {done} AND {live}"), params
    ).scalar_one()
    return Figures(
        since=since.isoformat(),
        opened=int(opened),
        resolved=int(resolved),
        first_response=_spread(session, first, params),
        resolution=_spread(session, resolution, params),
        backlog=_backlog(session, pg, now),
        sla_met=_sla(session, params),
        ratings=_ratings(session, params),
    )


def _backlog(session: Session, pg: bool, now: datetime) -> dict[str, int]:
    """Unresolved tickets by how long ago they were opened."""
    cases = " ".join(
        f"WHEN t.created_at <= :b{i} THEN '{label}'"
        for i, (label, _days) in reversed(list(enumerate(AGE_BUCKETS)))
    )
    params = {
        f"b{i}": _bind(pg, now - timedelta(days=days)) for i, (_, days) in enumerate(AGE_BUCKETS)
    }
    statuses = ", ".join(f"'{s}'" for s in UNRESOLVED)
    stmt = text(
        f"SELECT CASE {cases} END AS bucket, COUNT(*) FROM tickets t "
        f"WHERE t.status IN ({statuses}) AND t.merged_into_id IS NULL GROUP BY bucket"
    )
    found = {str(b): int(n) for b, n in session.execute(stmt, params) if b is not None}
    return {label: found.get(label, 0) for label, _ in AGE_BUCKETS}


def _sla(session: Session, params: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per SLA target: (met in time, all met) since then."""
    stmt = text(
        "SELECT target, SUM(CASE WHEN in_time THEN 1 ELSE 0 END), COUNT(*) FROM sla_results "
        "WHERE met_at >= :since GROUP BY target ORDER BY target"
    )
    return {str(t): (int(ok or 0), int(n)) for t, ok, n in session.execute(stmt, params)}


def _ratings(session: Session, params: dict[str, Any]) -> dict[str, int]:
    stmt = text("SELECT rating, COUNT(*) FROM ratings WHERE changed_at >= :since GROUP BY rating")
    found = {str(r): int(n) for r, n in session.execute(stmt, params)}
    return {rating: found.get(rating, 0) for rating in RATINGS}


__all__ = ["AGE_BUCKETS", "Figures", "Spread", "figures"]
