"""Accepting raw mail into the spool: the ``accept(raw, envelope)`` the wire is given.

Everything that receives mail (SMTP, IMAP, webhook, file import) ends here;
the row is committed before the caller acknowledges the message. On the way
in, Echo acts as the receiving host (RFC 8601): headers that speak in its
name or a trusted host's but cannot be theirs are removed, and mail received
by SMTP, IMAP or webhook is checked (DKIM, DMARC, and SPF where Echo itself
took the connection) and gets Echo's own ``Authentication-Results`` on top.
A check that cannot be done is recorded as such; it never costs the message.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from echodesk.config import Settings
from echodesk.desk.context import DeskContext
from echodesk.mailbox import authstamp, orgdomain
from echodesk.mailbox.mailauth import Authenticator, Connection, Resolver
from echodesk.mailbox.message import Envelope
from echodesk.store import spool
from echodesk.store.db import Database
from echodesk.store.spool import Arrival

log = logging.getLogger(__name__)
#: Sources whose bytes came from outside just now (a file import is history).
CHECKED_SOURCES = ("smtp", "imap", "webhook")


def _arrival(envelope: Envelope) -> Arrival:
    return Arrival(
        source=envelope.source,
        mail_from=envelope.mail_from,
        rcpt_to=envelope.rcpt_to,
        peer=envelope.peer,
        source_ref=envelope.source_ref,
        received_at=envelope.received_at,
    )


class Receiving:
    """Echo as the receiving host: forged headers out, its own results in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.own_id = settings.own_authserv_id
        self.relays = [ipaddress.ip_network(r, strict=False) for r in settings.smtp_trusted_relays]
        self.checker = (
            Authenticator(self.own_id, Resolver(settings.dns_resolver, settings.dns_timeout))
            if settings.verify_mail
            else None
        )
        if self.checker is not None:
            orgdomain.warm()

    def _relayed(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.relays)

    def receive(self, raw: bytes, envelope: Envelope) -> bytes:
        """The bytes to spool for a message that arrived with ``envelope``."""
        direct = envelope.source == "smtp" and not self._relayed(envelope.peer)
        trusted = self.settings.trusted_authserv_ids
        cleaned = authstamp.clean(raw, self.own_id, trusted, trusted_hop=not direct)
        if self.checker is None or envelope.source not in CHECKED_SOURCES:
            return cleaned
        conn = Connection(envelope.peer, envelope.mail_from, envelope.helo) if direct else None
        try:
            value = self.checker.check(cleaned, conn)
        except Exception:
            log.exception("sender check failed; message kept without Echo's results")
            return cleaned
        return authstamp.stamp(cleaned, value)


class Intake:
    def __init__(self, db: Database, ctx: DeskContext) -> None:
        self.db = db
        self.ctx = ctx
        self.receiving = Receiving(ctx.settings)

    def accept(self, raw: bytes, envelope: Envelope) -> int:
        """Spool one message durably (committed on return) and give its row id."""
        raw = self.receiving.receive(raw, envelope)
        with self.db.writing() as conn:
            return spool.put(
                conn,
                raw,
                _arrival(envelope),
                self.ctx.blobs,
                self.ctx.settings.spool_inline_limit,
            )

    def accept_many(self, items: Iterable[tuple[bytes, Envelope]], batch: int = 200) -> list[int]:
        """Spool many messages, committing every ``batch`` (for imports from files,
        whose source stays on disk until the import reports success)."""
        ids: list[int] = []
        pending: list[tuple[bytes, Arrival]] = []
        for raw, envelope in items:
            pending.append((self.receiving.receive(raw, envelope), _arrival(envelope)))
            if len(pending) >= batch:
                ids += self._commit(pending)
                pending = []
        if pending:
            ids += self._commit(pending)
        return ids

    def _commit(self, items: list[tuple[bytes, Arrival]]) -> list[int]:
        limit = self.ctx.settings.spool_inline_limit
        with self.db.writing() as conn:
            return spool.put_many(conn, items, self.ctx.blobs, limit)
