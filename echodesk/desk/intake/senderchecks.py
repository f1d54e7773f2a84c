"""Echo as the receiving host (RFC 8601): forged results out at receipt, its own in later.

At receipt (``Intake``, while the sender waits) only cheap byte surgery
happens: ``Authentication-Results`` headers that speak in Echo's name, or in
a trusted host's but cannot be its, are removed before the bytes are spooled.

The checks themselves (DKIM, DMARC, and SPF where Echo took the SMTP
connection) run in the worker, just before a spooled message is parsed, on
the bytes and envelope the spool row holds. They need DNS, and DNS can be
slow or down: done while an SMTP client waits, a dead DNS server would hold
every connection for seconds and a busy receiver would answer later for
every message; done here, the receiver answers as fast with checks as
without, and the worker checks a batch's messages side by side. The result
goes on top of the message as Echo's own header; the message is read with it.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from echodesk.config import Settings
from echodesk.mailbox import authstamp, orgdomain
from echodesk.mailbox.message import Envelope
from echodesk.store.spool import Claimed

if TYPE_CHECKING:
    from echodesk.mailbox.mailauth import Authenticator

log = logging.getLogger(__name__)
#: Sources whose bytes came from outside just now (a file import is history).
CHECKED_SOURCES = ("smtp", "imap", "webhook")
#: How the SMTP client's EHLO name is kept on the spool row (its ``source_ref``).
HELO = "helo="


class SenderChecks:
    """The receiving host's two steps, for one installation's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.own_id = settings.own_authserv_id
        self.relays = [ipaddress.ip_network(r, strict=False) for r in settings.smtp_trusted_relays]
        self._checker: Authenticator | None = None

    @property
    def active(self) -> bool:
        return self.settings.verify_mail

    @property
    def checker(self) -> Authenticator:
        """Made on first use: receipt only cleans headers and needs no resolver."""
        if self._checker is None:
            # Imported here: the DKIM, SPF and DNS libraries take a while to load, and
            # a process that checks nothing (an import of files) never needs them.
            from echodesk.mailbox.mailauth import Authenticator, Resolver

            resolver = Resolver(self.settings.dns_resolver, self.settings.dns_timeout)
            orgdomain.warm()
            self._checker = Authenticator(self.own_id, resolver)
        return self._checker

    def direct(self, source: str, peer: str) -> bool:
        """Whether the sender itself talked to Echo (SMTP, not from a trusted relay)."""
        if source != "smtp":
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return True
        return not any(address in net for net in self.relays)

    def clean(self, raw: bytes, envelope: Envelope) -> bytes:
        """At receipt: the bytes to spool, without headers that cannot be genuine."""
        trusted_hop = not self.direct(envelope.source, envelope.peer)
        trusted = self.settings.trusted_authserv_ids
        return authstamp.clean(raw, self.own_id, trusted, trusted_hop=trusted_hop)

    def checks(self, row: Claimed) -> bool:
        """Whether this row's sender is checked (it then waits on DNS)."""
        return self.active and row.source in CHECKED_SOURCES

    def stamp(self, raw: bytes, row: Claimed) -> bytes:
        """Before parsing: ``raw`` with Echo's own results on top (when it checks this row)."""
        if not self.checks(row):
            return raw
        from echodesk.mailbox.mailauth import Connection

        conn = None
        if self.direct(row.source, row.peer):
            helo = row.source_ref[len(HELO) :] if row.source_ref.startswith(HELO) else ""
            conn = Connection(row.peer, row.mail_from, helo)
        try:
            value = self.checker.check(raw, conn)
        except Exception:  # a bug in a check must not cost the message
            log.exception("sender check of spool row %s failed; read without it", row.id)
            return raw
        return authstamp.stamp(raw, value)


__all__ = ["CHECKED_SOURCES", "HELO", "SenderChecks"]
