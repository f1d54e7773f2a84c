"""The sender job: deliver due outbox rows, retry with backoff, record the outcome.

Rows are leased in one short transaction, sent with no transaction open (a
slow relay holds no lock), and their results recorded in a second one. The
envelope sender of each row is its signed VERP address, so a bounce names
the row, and with it the message and the recipient. A row to an address
that bounced since it was queued is suppressed instead of sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from echodesk.desk.context import DeskContext
from echodesk.desk.loop import run_until_stopped
from echodesk.desk.oauth import TokenSources
from echodesk.desk.outbound.queue import BOUNCED
from echodesk.errors import EchoError
from echodesk.mailbox.send import EmlFileSender, Sender, SendResult, SmtpRelaySender
from echodesk.metrics import DELIVERY_ATTEMPTS
from echodesk.store import outbox
from echodesk.store.connectors import DbHealth
from echodesk.store.db import Database
from echodesk.store.outbox import Claimed, Result
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)


def sender_for(db: Database, ctx: DeskContext) -> Sender:
    """The configured relay, or .eml files in the data folder (the embedded default)."""
    settings = ctx.settings
    if settings.relay is None:
        return EmlFileSender(settings.data_dir / "outbox")
    assert ctx.keyring is not None
    tokens = TokenSources(settings, db, ctx.keyring).get(settings.relay.oauth)
    return SmtpRelaySender(settings.relay, local_hostname=settings.outgoing_domain, tokens=tokens)


@dataclass(frozen=True)
class Delivery:
    """One row's attempt, for logs, tests and ``echodesk outbox send``."""

    outbox_id: int
    rcpt: str
    event: str
    detail: str


class Deliverer:
    def __init__(self, db: Database, ctx: DeskContext, sender: Sender, batch: int = 50) -> None:
        self.db = db
        self.ctx = ctx
        self.sender = sender
        self.batch = batch
        self.health = DbHealth(db, "relay")
        #: The connector's name in health records: the relay, or the .eml folder.
        self.name = "relay" if ctx.settings.relay is not None else "eml-files"

    def run_once(self) -> list[Delivery]:
        """Lease, send and record one batch of due rows; [] when none is due."""
        with self.db.transaction() as session:
            claimed = outbox.claim_due(session, self.batch)
            bounced = outbox.bounced_among(session, [c.rcpt for c in claimed])
        if not claimed:
            return []
        results = [self._attempt(row, bounced) for row in claimed]
        self.sender.close()
        with self.db.transaction() as session:
            outbox.record(session, results)
        self._report(results)
        for r in results:
            DELIVERY_ATTEMPTS.labels(r.event).inc()
        deliveries = [
            Delivery(r.id, c.rcpt, r.event, r.detail) for r, c in zip(results, claimed, strict=True)
        ]
        for d in deliveries:
            level = logging.INFO if d.event in ("sent", "suppress") else logging.WARNING
            log.log(level, "outbox %s to %s: %s %s", d.outbox_id, d.rcpt, d.event, d.detail)
        return deliveries

    def _report(self, results: list[Result]) -> None:
        """The relay works if it took a message or refused one for good; it fails when
        every attempt of the batch could not get through (deferred or given up)."""
        tried = [r for r in results if r.event not in ("suppress",) and r.reason != "unreadable"]
        if not tried:
            return
        if any(r.event in ("sent", "rejected") for r in tried):
            self.health.succeeded(self.name)
        else:
            self.health.failed(self.name, tried[0].detail)

    def _attempt(self, row: Claimed, bounced: set[str]) -> Result:
        if row.rcpt in bounced:
            return Result(row.id, "suppress", "the address bounced", reason=BOUNCED)
        verp = self.ctx.addresses.bounce_address(row.id)
        try:
            raw = outbox.raw_bytes(row, self.ctx.blobs)
        except EchoError as exc:
            return Result(row.id, "rejected", str(exc), mail_from=verp, reason="unreadable")
        answer = self.sender.send(verp, row.rcpt, raw)
        return self._result(row, verp, answer)

    def _result(self, row: Claimed, verp: str, answer: SendResult) -> Result:
        settings = self.ctx.settings
        if answer.ok:
            return Result(row.id, "sent", answer.detail, mail_from=verp)
        if answer.permanent:
            return Result(row.id, "rejected", answer.detail, mail_from=verp, reason="rejected")
        if row.attempts >= settings.outbox_max_attempts:
            return Result(row.id, "exhausted", answer.detail, mail_from=verp, reason="gave-up")
        delay = settings.outbox_retry_seconds * 2 ** (row.attempts - 1)
        retry_at = utcnow() + timedelta(seconds=min(delay, 6 * 3600))
        return Result(row.id, "deferred", answer.detail, mail_from=verp, retry_at=retry_at)

    def run_until_idle(self) -> list[Delivery]:
        """Deliver until nothing is due (rows waiting for a retry delay are left)."""
        done: list[Delivery] = []
        while batch := self.run_once():
            done.extend(batch)
        return done

    def run_forever(self, stop: Callable[[], bool], idle_sleep: float = 1.0) -> None:
        """The sender loop of ``serve`` and ``worker``."""
        run_until_stopped(self.run_once, stop, idle_sleep, "sender")
