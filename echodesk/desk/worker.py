"""The one loop that drains the spool: claim, process, commit; retry with backoff.

Pipeline stages never commit or retry; this module does both (STYLE §1). A
batch of rows is claimed in one transaction and each row is processed inside
its own savepoint, so a failing message is rolled back alone and recorded as
a failed attempt while the rest of the batch commits. If the batch itself
cannot commit, its rows are processed again one transaction each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.desk.pipeline import ConversationBusy, Outcome, process
from echodesk.store import spool
from echodesk.store.db import Database
from echodesk.store.models import InboundSpool

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """A one-line error for the spool row: type and message, no message content."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:1000]


class Worker:
    def __init__(self, db: Database, ctx: DeskContext, *, batch: int | None = None) -> None:
        self.db = db
        self.ctx = ctx
        self.batch = batch or ctx.settings.worker_batch

    def run_once(self) -> list[Outcome]:
        """Process one batch of due rows; [] when there is nothing to do."""
        claimed: list[int] = []
        try:
            with self.db.transaction() as session:
                rows = spool.claim(session, self.batch)
                claimed = [row.id for row in rows]
                return [self._one(session, row) for row in rows]
        except SQLAlchemyError as exc:
            if not claimed:
                raise
            log.warning(
                "batch of %d rows failed to commit (%s); retrying one by one",
                len(claimed),
                describe(exc),
            )
            return [o for o in (self._alone(row_id) for row_id in claimed) if o is not None]

    def _one(self, session: Session, row: InboundSpool) -> Outcome:
        savepoint = session.begin_nested()
        try:
            outcome = process(session, row, self.ctx)
            savepoint.commit()
            return outcome
        except ConversationBusy as busy:
            savepoint.rollback()  # not a failure: the row stays due and is claimed again
            return Outcome(
                spool_id=row.id, state="deferred", kind="", message_id="", reason=str(busy)
            )
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the row
            savepoint.rollback()
            return self._failed(row, exc)

    def _failed(self, row: InboundSpool, exc: BaseException) -> Outcome:
        log.error("spool row %s failed: %s", row.id, describe(exc), exc_info=exc)
        settings = self.ctx.settings
        spool.mark_failed(
            row,
            describe(exc),
            max_attempts=settings.spool_max_attempts,
            first_delay=settings.spool_retry_seconds,
        )
        return Outcome(
            spool_id=row.id,
            state=row.state if row.state == "failed" else "retry",
            kind=row.kind,
            message_id=row.message_id,
            reason=row.last_error,
        )

    def _alone(self, row_id: int) -> Outcome | None:
        try:
            with self.db.transaction() as session:
                row = spool.claim_one(session, row_id)
                return None if row is None else self._one(session, row)
        except SQLAlchemyError as exc:
            with self.db.transaction() as session:
                row = spool.claim_one(session, row_id)
                return None if row is None else self._failed(row, exc)

    def run_until_idle(self, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Process until no row is due (rows waiting for a retry delay are left)."""
        done: list[Outcome] = []
        while True:
            batch = self.run_once()
            if not batch:
                return done
            if all(o.state == "deferred" for o in batch):
                time.sleep(0.02)  # another worker holds these conversations
                continue
            done.extend(o for o in batch if o.state != "deferred")
            if on_outcome:
                for outcome in batch:
                    if outcome.state != "deferred":
                        on_outcome(outcome)

    def run_forever(self, stop: Callable[[], bool], idle_sleep: float = 1.0) -> None:
        """The ``serve`` loop: drain, sleep when idle, until ``stop()`` says so."""
        while not stop():
            try:
                if not self.run_once():
                    time.sleep(idle_sleep)
            except SQLAlchemyError as exc:
                log.error("worker cannot reach the database: %s", describe(exc))
                time.sleep(min(30.0, idle_sleep * 5))


def outcomes_for(outcomes: Sequence[Outcome], ids: set[int]) -> list[Outcome]:
    return [o for o in outcomes if o.spool_id in ids]
