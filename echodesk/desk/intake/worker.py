"""The one loop that drains the spool: claim, process, commit; retry with backoff.

Pipeline stages never commit or retry; this module does both (STYLE §1).
Rows are parsed outside the write transaction where the database allows it
(SQLite has one writer at a time, and receivers must not wait for parsing),
then decided and written in one transaction, inside a savepoint. If the
batch fails, the savepoint is rolled back and the rows are processed again
one at a time, each in its own savepoint, so a bad message fails alone: its
attempt is recorded with the error and it is retried later with a doubling
delay, until it stays ``failed`` for an operator to look at.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TypeVar

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.desk.intake.parsepool import ParsePool, ParseResult, Parsing
from echodesk.desk.intake.pipeline import Outcome, parse_row, process_batch
from echodesk.desk.intake.senderchecks import SenderChecks
from echodesk.desk.item import Item
from echodesk.desk.loop import describe, run_until_stopped
from echodesk.metrics import PROCESSED, PROCESSING_SECONDS
from echodesk.store import spool
from echodesk.store.db import Database
from echodesk.store.spool import Claimed

log = logging.getLogger(__name__)
T = TypeVar("T")
CHECK_THREADS = 8
#: Seconds of work between two updates of the planner's statistics (SQLite keeps none
#: by itself; see ``Database.keep_statistics``).
STATISTICS_EVERY = 600.0
#: How long a long-running worker may hold SQLite's one write lock: receivers wait
#: that long at most before they can commit a message and answer 250.
SQLITE_WRITE_SECONDS = 0.015


def log_line(outcome: Outcome) -> str:
    """The one line a processed message gets in the log: what it was and what was done.

    Logged after the commit, so the line is true; the message's content (its
    subject, its sender) stays out of the log.
    """
    ticket = f"#{outcome.ticket_number}" if outcome.ticket_number is not None else "-"
    decision = "new ticket" if outcome.created_ticket else outcome.state
    if outcome.appended:
        decision = "appended"
    why = f": {outcome.reason[:200]}" if outcome.reason not in ("", decision) else ""
    return (
        f"message spool={outcome.spool_id} id=<{outcome.message_id}> "
        f"kind={outcome.kind or '-'} ticket={ticket} {decision}{why}"
    )


class BatchSizer:
    """How many rows the next write transaction takes, so that it lasts about ``budget``.

    On SQLite the worker's transaction holds the database's one write lock, and
    every receiver that must commit a message before answering waits for it.
    The time a row takes is learnt from the batches written (a moving
    average), so the batch shrinks on a slow machine and grows on a fast one,
    between ``FEWEST`` and the configured batch. Without a budget (PostgreSQL,
    where writers do not wait for each other, or a one-off import that nobody
    waits on) every batch is full.
    """

    FEWEST = 5
    #: The first batch, before anything is known of this machine's speed.
    FIRST = 10

    def __init__(self, most: int, budget: float | None) -> None:
        self.most = most
        self.budget = budget
        self.per_row: float | None = None

    def size(self) -> int:
        if self.budget is None:
            return self.most
        if self.per_row is None:
            return min(self.most, self.FIRST)
        fits = int(self.budget / max(self.per_row, 1e-6))
        return max(min(self.FEWEST, self.most), min(self.most, fits))

    def record(self, rows: int, seconds: float) -> None:
        """One write transaction of ``rows`` rows took ``seconds``."""
        if self.budget is None or rows <= 0:
            return
        sample = seconds / rows
        self.per_row = sample if self.per_row is None else 0.7 * self.per_row + 0.3 * sample


class Worker:
    def __init__(
        self,
        db: Database,
        ctx: DeskContext,
        *,
        batch: int | None = None,
        shared_lock: bool = False,
        parse_processes: int = 1,
    ) -> None:
        """``shared_lock``: receivers wait on this worker's SQLite transactions (``serve``
        and ``worker``), so each is kept short; a one-off run takes full batches.
        ``parse_processes`` above 1: rows are parsed in that many other processes, the
        next batch while this one is written (:mod:`~echodesk.desk.intake.parsepool`)."""
        self.db = db
        self.ctx = ctx
        self.batch = batch or ctx.settings.worker_batch
        budget = SQLITE_WRITE_SECONDS if shared_lock and not db.is_postgres else None
        self.sizer = BatchSizer(self.batch, budget)
        wanted = parse_processes > 1 and ParsePool.available()
        self.parsers = ParsePool(ctx, parse_processes) if wanted else None
        #: The next batch, being parsed while this one is written.
        self._ahead: Parsing | None = None
        self.checks = SenderChecks(ctx.settings)
        #: The sender checks wait on DNS: a batch's messages are checked side by side.
        active = self.checks.active
        self.pool = ThreadPoolExecutor(CHECK_THREADS, "sender-checks") if active else None
        self._statistics_at = time.monotonic()

    def run_once(self) -> list[Outcome]:
        """Process one batch of due rows; [] when there is nothing to do."""
        started = time.perf_counter()
        postgres = self.db.is_postgres
        claim_first = postgres and self.parsers is None
        outcomes = self._claim_then_parse() if claim_first else self._parse_then_claim()
        if outcomes:
            PROCESSING_SECONDS.observe(time.perf_counter() - started)
            for outcome in outcomes:
                PROCESSED.labels(outcome.state).inc()
        if log.isEnabledFor(logging.INFO):
            for outcome in outcomes:
                if outcome.state != "deferred":
                    log.info("%s", log_line(outcome))
        if outcomes:
            self._keep_statistics()
        return outcomes

    def _keep_statistics(self) -> None:
        """Now and then, while rows are processed: a desk that grows from empty to a
        million messages keeps plans made for its size."""
        if time.monotonic() - self._statistics_at >= STATISTICS_EVERY:
            self.db.keep_statistics()
            self._statistics_at = time.monotonic()

    def _claim_then_parse(self) -> list[Outcome]:
        """PostgreSQL: lock rows first (other workers skip them), parse inside."""
        with self.db.transaction() as session:
            rows = spool.claim(session, self.batch)
            return self._process(session, rows, self._parse_all(rows))

    def _parse_then_claim(self) -> list[Outcome]:
        """Parse before taking the write lock, then claim what is left.

        SQLite's one writer must not wait on parsing. With parsing processes
        (either database) the next batch is handed to them before this one is
        written, so parsing and writing overlap; PostgreSQL's claim skips rows
        another worker locked meanwhile.
        """
        parsing, self._ahead = self._ahead, None
        if parsing is None:
            parsing = self._peek()
        if parsing is None:
            return []
        parsed = parsing.results()
        if self.parsers is not None:
            self._ahead = self._peek(after=max(parsed))
        with self.db.transaction() as session:
            began = time.perf_counter()
            rows = spool.claim_ids(session, list(parsed))
            outcomes = self._process(session, rows, parsed)
        self.sizer.record(len(rows), time.perf_counter() - began)
        return outcomes

    @property
    def parsing_ahead(self) -> bool:
        """Whether the next batch is being parsed already (see :meth:`prefetch`)."""
        return self._ahead is not None

    def prefetch(self) -> None:
        """Start parsing the next due rows now, in the parsing processes (if any), unless
        a batch is being parsed already: an import that spools as it goes calls this, so
        that its own work overlaps the parsing."""
        if self.parsers is not None and self._ahead is None:
            self._ahead = self._peek()

    def _peek(self, after: int = 0) -> Parsing | None:
        """The next due rows (past ``after``), their parsing started; None when none is due."""
        with self.db.reading() as session:
            rows = spool.due(session, self.sizer.size(), after=after)
        if not rows:
            return None
        if self.parsers is None:
            return Parsing(self.ctx, early=self._parse_all(rows))
        stamped = list(zip(rows, self._each(self._stamped, rows), strict=True))
        jobs = [(replace(r, raw=None), raw) for r, raw in stamped if isinstance(raw, bytes)]
        early = {r.id: exc for r, exc in stamped if isinstance(exc, Exception)}
        return self.parsers.start(jobs, early)

    def _parse_all(self, rows: Sequence[Claimed]) -> dict[int, ParseResult]:
        return dict(zip((r.id for r in rows), self._each(self._parse, rows), strict=True))

    def _each(self, work: Callable[[Claimed], T], rows: Sequence[Claimed]) -> list[T]:
        """``work`` on every row, in order: the rows whose senders are checked side by side
        on the sender-check threads (they wait on DNS), the others (a file import) here."""
        waiting = [row for row in rows if self.checks.checks(row)]
        if self.pool is None or len(waiting) < 2:
            return [work(row) for row in rows]
        done = dict(zip((r.id for r in waiting), self.pool.map(work, waiting), strict=True))
        return [done[row.id] if row.id in done else work(row) for row in rows]

    def _parse(self, row: Claimed) -> ParseResult:
        try:
            return parse_row(row, self.ctx, self.checks)
        except Exception as exc:  # noqa: BLE001 - recorded on the row by _process
            return exc

    def _stamped(self, row: Claimed) -> bytes | Exception:
        """The row's raw bytes with the sender checks' results on top (for the parsers)."""
        try:
            return self.checks.stamp(spool.raw_bytes(row, self.ctx.blobs), row)
        except Exception as exc:  # noqa: BLE001 - recorded on the row by _process
            return exc

    def _process(
        self, session: Session, rows: Sequence[Claimed], parsed: dict[int, ParseResult]
    ) -> list[Outcome]:
        failed = [
            self._failed(session, row, result)
            for row in rows
            if isinstance(result := parsed[row.id], Exception)
        ]
        good = [(row, result) for row in rows if isinstance(result := parsed[row.id], Item)]
        if not good:
            return failed
        try:
            with session.begin_nested():
                return failed + process_batch(session, [p for _, p in good], self.ctx)
        except Exception as exc:  # noqa: BLE001 - retried row by row below
            if len(good) == 1:
                return [*failed, self._failed(session, good[0][0], exc)]
            log.warning(
                "batch of %d failed (%s); processing rows one by one", len(good), describe(exc)
            )
        return failed + [self._one(session, row, item) for row, item in good]

    def _one(self, session: Session, row: Claimed, item: Item) -> Outcome:
        try:
            with session.begin_nested():
                return process_batch(session, [item], self.ctx)[0]
        except Exception as exc:  # noqa: BLE001 - any failure is recorded on the row
            return self._failed(session, row, exc)

    def _failed(self, session: Session, row: Claimed, exc: BaseException) -> Outcome:
        log.error("spool row %s failed: %s", row.id, describe(exc), exc_info=exc)
        settings = self.ctx.settings
        state = spool.mark_failed(
            session,
            row,
            describe(exc),
            max_attempts=settings.spool_max_attempts,
            first_delay=settings.spool_retry_seconds,
        )
        return Outcome(spool_id=row.id, state=state, kind="", message_id="", reason=describe(exc))

    def run_until_idle(self, on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Process until no row is due (rows waiting for a retry delay are left)."""
        done: list[Outcome] = []
        while True:
            batch = self.run_once()
            if not batch:
                return done
            finished = [o for o in batch if o.state != "deferred"]
            if not finished:
                time.sleep(0.02)  # another worker holds these conversations
                continue
            done.extend(finished)
            if on_outcome:
                for outcome in finished:
                    on_outcome(outcome)

    def close(self) -> None:
        """Stop the parsing processes (a worker without them has nothing to stop)."""
        self._ahead = None
        if self.parsers is not None:
            self.parsers.close()

    def run_forever(self, stop: Callable[[], bool], idle_sleep: float = 1.0) -> None:
        """The ``serve`` loop: drain, sleep when idle, until ``stop()`` says so."""
        run_until_stopped(self.run_once, stop, idle_sleep, "worker")
