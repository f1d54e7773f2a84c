"""Accepting raw mail into the spool: the ``accept(raw, envelope)`` the wire is given.

Everything that receives mail (SMTP, IMAP, webhook, file import) ends here;
the row is committed before the caller acknowledges the message. On the way
in, headers that speak in Echo's name or a trusted host's but cannot be
theirs are removed (:mod:`echodesk.desk.intake.senderchecks`); the checks of the
sender run later, in the worker, so no sender waits on DNS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from echodesk.desk.context import DeskContext
from echodesk.desk.intake.groupcommit import GroupCommit
from echodesk.desk.intake.senderchecks import HELO, SenderChecks
from echodesk.mailbox.message import Envelope
from echodesk.store import spool
from echodesk.store.db import Database
from echodesk.store.spool import Arrival


def _arrival(envelope: Envelope) -> Arrival:
    ref = envelope.source_ref
    if not ref and envelope.helo:
        ref = f"{HELO}{envelope.helo}"  # SPF needs it when the worker checks the sender
    return Arrival(
        source=envelope.source,
        mail_from=envelope.mail_from,
        rcpt_to=envelope.rcpt_to,
        peer=envelope.peer,
        source_ref=ref,
        received_at=envelope.received_at,
    )


class Intake:
    def __init__(self, db: Database, ctx: DeskContext) -> None:
        self.db = db
        self.ctx = ctx
        self.checks = SenderChecks(ctx.settings)
        self._group: GroupCommit[tuple[bytes, Arrival]] = GroupCommit(self._commit)

    def accept(self, raw: bytes, envelope: Envelope) -> int:
        """Spool one message durably (committed on return) and give its row id.

        Called by many receiver threads at once: the messages that arrive while
        one commit runs are committed together (:mod:`.groupcommit`).
        """
        return self._group.submit((self.checks.clean(raw, envelope), _arrival(envelope)))

    def accept_many(self, items: Iterable[tuple[bytes, Envelope]], batch: int = 200) -> list[int]:
        """Spool many messages, committing every ``batch`` (for imports from files,
        whose source stays on disk until the import reports success)."""
        ids: list[int] = []
        pending: list[tuple[bytes, Arrival]] = []
        for raw, envelope in items:
            pending.append((self.checks.clean(raw, envelope), _arrival(envelope)))
            if len(pending) >= batch:
                ids += self._commit(pending)
                pending = []
        if pending:
            ids += self._commit(pending)
        return ids

    def _commit(self, items: Sequence[tuple[bytes, Arrival]]) -> list[int]:
        limit = self.ctx.settings.spool_inline_limit
        with self.db.writing() as conn:
            return spool.put_many(conn, items, self.ctx.blobs, limit)
