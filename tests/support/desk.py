"""A test harness around the real pipeline: deliver raw mail, run the worker, look.

Everything is real (settings, database, blob store, spool, worker); only the
way mail arrives is shortened to a direct ``accept`` call.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from echodesk.config import Settings
from echodesk.desk.agents.replies import Posted, post
from echodesk.desk.context import DeskContext
from echodesk.desk.intake.accept import Intake
from echodesk.desk.intake.pipeline import Outcome
from echodesk.desk.intake.worker import Worker
from echodesk.desk.outbound.delivery import Deliverer, Delivery, sender_for
from echodesk.mailbox.message import AttachmentPart, Envelope
from echodesk.store import agents, migrate, readmodels
from echodesk.store import outbox as outbox_store
from echodesk.store import tickets as ticket_store
from echodesk.store.db import Database
from tests.support.agent import agent_reply, notifications

_T = TypeVar("_T")


class Desk:
    def __init__(self, db_url: str, data_dir: Path, **overrides: Any) -> None:
        # Mail here arrives by a direct ``accept``: no receiving host checked it, so
        # agents' commands are judged by their signature alone unless a test asks
        # for the real checks (tests/test_trust.py does).
        overrides.setdefault("verify_mail", False)
        overrides.setdefault("agent_auth", "signature-only")
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

    def accept(
        self, raw: bytes, source: str = "test", rcpt_to: tuple[str, ...] = ("support@desk.test",)
    ) -> int:
        return self.intake.accept(raw, Envelope(source=source, rcpt_to=rcpt_to))

    def run_worker_until_idle(self) -> list[Outcome]:
        return Worker(self.db, self.ctx).run_until_idle()

    def deliver(self, raw: bytes, rcpt_to: tuple[str, ...] = ("support@desk.test",)) -> Outcome:
        """Accept one message and process everything pending; the outcome of this one."""
        row_id = self.accept(raw, rcpt_to=rcpt_to)
        outcomes = self.run_worker_until_idle()
        return next(o for o in outcomes if o.spool_id == row_id)

    def tickets(self) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            return readmodels.ticket_list(session, self.settings)

    def ticket(self, number: int) -> dict[str, Any]:
        with self.db.reading() as session:
            ticket = ticket_store.by_number(session, number)
            assert ticket is not None, f"no ticket {number}"
            return readmodels.ticket_detail(session, self.settings, ticket)

    def spool(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            return readmodels.spool_list(session, self.settings, state)

    def add_agent(self, email: str = "bob@desk.test", name: str = "Bob Agent") -> None:
        with self.db.transaction() as session:
            agents.add(session, email, name)

    def reply(
        self,
        number: int,
        text: str,
        agent: str = "bob@desk.test",
        attachments: tuple[AttachmentPart, ...] = (),
    ) -> Posted:
        with self.db.transaction() as session:
            return post(session, self.ctx, number, agent, text, attachments)

    def note(self, number: int, text: str, agent: str = "bob@desk.test") -> Posted:
        with self.db.transaction() as session:
            return post(session, self.ctx, number, agent, text, note=True)

    def send_outbox(self) -> list[Delivery]:
        """Run the sender until nothing is due (as the worker's sender thread does)."""
        return Deliverer(self.db, self.ctx, sender_for(self.db, self.ctx)).run_until_idle()

    def outbox(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.db.reading() as session:
            return [
                {
                    "id": r.id,
                    "state": r.state,
                    "purpose": r.purpose,
                    "rcpt": r.rcpt,
                    "attempts": r.attempts,
                    "reason": r.reason,
                    "last_error": r.last_error,
                    "message_id": r.message_id,
                    "mail_from": r.mail_from,
                    "ticket_id": r.ticket_id,
                }
                for r in outbox_store.rows(session, state)
            ]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``echodesk ARGS`` as a person would, on this desk's database and secret."""
        config = self.settings.data_dir.parent / "echodesk.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "support_address": self.settings.support_address,
                    "data_dir": str(self.settings.data_dir),
                    "database_url": self.settings.database_url,
                    "secret": self.ctx.secret.decode(),
                    "verify_mail": self.settings.verify_mail,
                    "agent_auth": self.settings.agent_auth,
                    "rules_file": str(self.settings.rules_file.absolute()),
                    "replies_file": str(self.settings.replies_file.absolute()),
                    "timezone": self.settings.timezone,
                    "business_hours": self.settings.business_hours,
                    "sla": [dataclasses.asdict(policy) for policy in self.settings.sla],
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        return subprocess.run(
            [sys.executable, "-m", "echodesk.cli", "--config", str(config), *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def answer(
        self, text: str, message_id: str = "agent1@desk.test", agent: str = "bob@desk.test"
    ) -> None:
        """``agent`` answers their newest notification with ``text``, as a mail client
        writes it; the outbox is sent after."""
        note = notifications(self.settings.data_dir / "outbox", agent)[-1]
        raw, to = agent_reply(note, text, message_id=message_id)
        self.deliver(raw, rcpt_to=(to,))
        self.send_outbox()

    def at_once(self, job: Callable[[Database, DeskContext], _T], processes: int = 2) -> list[_T]:
        """Run ``job`` as that many processes would, at the same instant: each with its
        own connection pool and context, released together; their results."""
        pools = [Database(self.settings.effective_database_url()) for _ in range(processes)]
        results: list[_T] = []
        start = threading.Barrier(processes)

        def run(db: Database) -> None:
            start.wait()
            results.append(job(db, DeskContext.for_settings(self.settings, db)))

        threads = [threading.Thread(target=run, args=(db,)) for db in pools]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        for db in pools:
            db.dispose()
        assert len(results) == processes, "a process failed (see the log)"
        return results

    def close(self) -> None:
        self.db.dispose()
