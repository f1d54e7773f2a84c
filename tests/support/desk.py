"""A test harness around the real pipeline: deliver raw mail, run the worker, look.

Everything is real (settings, database, blob store, spool, worker); only the
way mail arrives is shortened to a direct ``accept`` call.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.desk.intake import Intake
from echodesk.desk.pipeline import Outcome
from echodesk.desk.worker import Worker
from echodesk.mailbox.message import Envelope
from echodesk.store import migrate, reports
from echodesk.store import tickets as ticket_store
from echodesk.store.db import Database


class Desk:
    def __init__(self, db_url: str, data_dir: Path, **overrides: Any) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            database_url=db_url,
            support_address="support@desk.test",
            **overrides,
        )
        self.db = Database(db_url)
        migrate.upgrade(self.db)
        self.ctx = DeskContext.for_settings(self.settings)
        self.intake = Intake(self.db, self.ctx)

    def reconfigure(self, **overrides: Any) -> None:
        self.settings = replace(self.settings, **overrides)
        self.ctx = DeskContext.for_settings(self.settings)
        self.intake = Intake(self.db, self.ctx)

    def accept(self, raw: bytes, source: str = "test") -> int:
        return self.intake.accept(raw, Envelope(source=source, rcpt_to=("support@desk.test",)))

    def run_worker_until_idle(self) -> list[Outcome]:
        return Worker(self.db, self.ctx).run_until_idle()

    def deliver(self, raw: bytes) -> Outcome:
        """Accept one message and process everything pending; the outcome of this one."""
        row_id = self.accept(raw)
        outcomes = self.run_worker_until_idle()
        return next(o for o in outcomes if o.spool_id == row_id)

    def tickets(self) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            return reports.ticket_list(session, self.settings)

    def ticket(self, number: int) -> dict[str, Any]:
        with self.db.reading() as session:
            ticket = ticket_store.by_number(session, number)
            assert ticket is not None, f"no ticket {number}"
            return reports.ticket_detail(session, self.settings, ticket)

    def spool(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            return reports.spool_list(session, self.settings, state)

    def close(self) -> None:
        self.db.dispose()
