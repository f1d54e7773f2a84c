"""Column types shared by the models.

Times are stored in UTC and always come back timezone-aware, whichever
database holds them (SQLite keeps no zone, so the zone is put back on read).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as UTC and returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite returns datetime here
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware (never a naive datetime in Echo)."""
    return datetime.now(UTC)


def as_bound(pg: bool, moment: datetime) -> datetime:
    """A moment as a hand-written statement compares it: SQLite keeps UTC without an offset."""
    return moment if pg else moment.astimezone(UTC).replace(tzinfo=None)


# BigInteger primary keys on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
str320 = Annotated[str, mapped_column(String(320))]
text = Annotated[str, mapped_column(Text)]
timestamp = Annotated[datetime, mapped_column(UTCDateTime())]
