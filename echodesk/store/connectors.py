"""Connector health in ``connector_health``: each mailbox's and the relay's recent record.

The poller and the sender report every pass here (this matches the
mailbox package's ``HealthPort`` by shape; the store never imports the
mailbox package). One row per connector, written with an upsert in its own
committed transaction, so a connector that fails on one machine is seen
failing from every other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from echodesk.store.db import Database
from echodesk.store.models import ConnectorHealth, InboundSpool, Outbox
from echodesk.store.types import utcnow


@dataclass(frozen=True)
class Connector:
    """One connector's record, as ``status`` shows it."""

    name: str
    kind: str
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    failing_since: datetime | None
    consecutive_failures: int
    #: Messages it moved over the last 24 hours (brought in by a mailbox, sent by the relay).
    moved_24h: int = 0

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


class DbHealth:
    """``succeeded``/``failed`` of a named connector, recorded in the database."""

    def __init__(self, db: Database, kind: str) -> None:
        self.db = db
        self.kind = kind

    def succeeded(self, name: str) -> None:
        """The connector did its work: the run of failures, if any, is over."""
        now = utcnow()
        self._upsert(
            name,
            {"last_success_at": now, "failing_since": None, "consecutive_failures": 0},
            now,
        )

    def failed(self, name: str, error: str) -> None:
        """The connector failed: one more in the run, which began at the first."""
        now = utcnow()
        self._upsert(
            name,
            {
                "last_error": error[:2000],
                "last_error_at": now,
                "failing_since": now,
                "consecutive_failures": 1,
            },
            now,
            failure=True,
        )

    def _upsert(
        self, name: str, values: dict[str, Any], now: datetime, *, failure: bool = False
    ) -> None:
        table = cast(Table, ConnectorHealth.__table__)
        module: Any = postgresql if self.db.is_postgres else sqlite
        row = {"name": name, "kind": self.kind, "last_error": "", "updated_at": now, **values}
        stmt = module.insert(table).values(**row)
        new = stmt.excluded
        changes: dict[str, Any] = {key: getattr(new, key) for key in values}
        changes["updated_at"] = new.updated_at
        if failure:  # keep when the run began, and count on from it
            changes["failing_since"] = func.coalesce(table.c.failing_since, new.failing_since)
            changes["consecutive_failures"] = table.c.consecutive_failures + 1
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_=changes)
        with self.db.transaction() as session:
            session.execute(stmt)


def every(session: Session, now: datetime | None = None) -> list[Connector]:
    """Every connector's record, by name, with the messages each mailbox brought in a day."""
    since = (now or utcnow()) - timedelta(hours=24)
    moved = dict(
        session.execute(
            select(InboundSpool.peer, func.count())
            .where(InboundSpool.source == "imap", InboundSpool.received_at >= since)
            .group_by(InboundSpool.peer)
        ).all()
    )
    sent = session.scalar(select(func.count()).where(Outbox.sent_at >= since)) or 0
    rows = session.scalars(select(ConnectorHealth).order_by(ConnectorHealth.name))
    return [
        Connector(
            r.name,
            r.kind,
            r.last_success_at,
            r.last_error,
            r.last_error_at,
            r.failing_since,
            r.consecutive_failures,
            int(sent if r.kind == "relay" else moved.get(r.name.removeprefix("imap:"), 0)),
        )
        for r in rows
    ]


__all__ = ["Connector", "DbHealth", "every"]
