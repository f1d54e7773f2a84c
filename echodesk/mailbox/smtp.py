"""The SMTP receiver: aiosmtpd hooks that hold Echo's receiving policy.

- ``handle_RCPT`` refuses every recipient Echo does not serve with ``550
  5.1.1``, at RCPT time, so Echo is never an open relay.
- ``handle_DATA`` answers ``250`` only after ``accept`` has committed the raw
  bytes and envelope to the spool; if that fails the answer is ``451 4.3.0``
  and the sending server retries. There is no path to 250 without a copy.
- ``handle_exception`` answers ``451`` too: a bug must cost a retry, not mail.
The database work runs on a thread pool, so one slow commit does not hold
up the other connections. This module knows nothing of the spool: it is
handed an :data:`~echodesk.mailbox.message.Accept` callable.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.controller import Controller

from echodesk.config import Settings
from echodesk.mailbox.message import Accept, Envelope
from echodesk.metrics import SMTP_SESSIONS

log = logging.getLogger(__name__)

TEMPORARY_FAILURE = "451 4.3.0 Temporary failure storing the message; try again later"


@dataclass(frozen=True)
class RecipientPolicy:
    """Which recipients Echo accepts mail for.

    The support addresses and their ``+tag`` sub-addresses; every address at a
    domain listed as served (a catch-all for that domain); and ``postmaster``
    at any served domain (RFC 5321 4.5.1).
    """

    addresses: frozenset[str]
    catch_all_domains: frozenset[str]
    postmaster_domains: frozenset[str]

    def accepts(self, recipient: str) -> bool:
        local, at, domain = recipient.strip().strip("<>").lower().rpartition("@")
        if not at or not local or not domain:
            return False
        if domain in self.catch_all_domains:
            return True
        if local == "postmaster" and domain in self.postmaster_domains:
            return True
        base = local.split("+", 1)[0]
        return f"{base}@{domain}" in self.addresses


def policy_for(settings: Settings) -> RecipientPolicy:
    """The recipients Echo serves: the support address, explicit domains, postmaster,
    and the bounce address that outgoing mail names as its envelope sender."""
    bounces = f"{settings.bounce_local_part}@{settings.outgoing_domain}".lower()
    return RecipientPolicy(
        addresses=frozenset({settings.support_address.lower(), bounces}),
        catch_all_domains=frozenset(d.lower() for d in settings.domains),
        postmaster_domains=frozenset(settings.served_domains),
    )


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class SmtpHandler:
    """aiosmtpd handler: the receiving policy, nothing else."""

    def __init__(self, accept: Accept, policy: RecipientPolicy, workers: int = 8) -> None:
        self.accept = accept
        self.policy = policy
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="smtp-accept")

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.policy.accepts(address):
            log.info(
                "smtp rejected recipient peer=%s mail_from=%s rcpt=%s",
                _peer(session),
                envelope.mail_from,
                address,
            )
            SMTP_SESSIONS.labels("refused").inc()
            return f"550 5.1.1 <{address}>: no such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        received = Envelope(
            source="smtp",
            mail_from=envelope.mail_from or "",
            rcpt_to=tuple(envelope.rcpt_tos),
            peer=_peer(session),
            received_at=datetime.now(UTC),
            helo=str(getattr(session, "host_name", "") or "")[:255],
        )
        loop = asyncio.get_running_loop()
        try:
            spool_id = await loop.run_in_executor(self.pool, self.accept, bytes(raw), received)
        except Exception as exc:  # noqa: BLE001 - any failure to store means "retry later"
            log.error(
                "smtp could not store message peer=%s mail_from=%s rcpt=%s size=%d: %s",
                received.peer,
                received.mail_from,
                ",".join(received.rcpt_to),
                len(raw),
                type(exc).__name__,
            )
            SMTP_SESSIONS.labels("deferred").inc()
            return TEMPORARY_FAILURE
        log.debug(
            "smtp received peer=%s mail_from=%s rcpt=%s size=%d spool_id=%s",
            received.peer,
            received.mail_from,
            ",".join(received.rcpt_to),
            len(raw),
            spool_id,
        )
        SMTP_SESSIONS.labels("accepted").inc()
        return f"250 2.0.0 OK queued as {spool_id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("smtp session error: %s", type(error).__name__, exc_info=error)
        return TEMPORARY_FAILURE

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _peer(session: Any) -> str:
    peer = getattr(session, "peer", None)
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "")


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class SmtpReceiver:
    """The listening server (aiosmtpd runs it on its own thread and event loop)."""

    @classmethod
    def for_settings(
        cls, settings: Settings, accept: Accept, listen: str | None = None
    ) -> SmtpReceiver:
        host, port = split_host_port(listen or settings.smtp_listen)
        tls = (
            tls_context(settings.smtp_tls_cert, settings.smtp_tls_key)
            if settings.smtp_tls_cert
            else None
        )
        return cls(
            accept,
            policy_for(settings),
            host=host,
            port=port,
            max_size=settings.max_message_size,
            timeout=settings.smtp_timeout,
            tls=tls,
        )

    def __init__(
        self,
        accept: Accept,
        policy: RecipientPolicy,
        *,
        host: str,
        port: int,
        max_size: int,
        timeout: float,
        tls: ssl.SSLContext | None = None,
        ident: str = "Echo",
    ) -> None:
        self.handler = SmtpHandler(accept, policy)
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=port,
            server_hostname=None,
            ready_timeout=10,
            data_size_limit=max_size,
            enable_SMTPUTF8=True,
            timeout=timeout,
            tls_context=tls,
            ident=ident,
        )

    def start(self) -> None:
        self.controller.start()
        log.debug("smtp listening on %s:%s", self.controller.hostname, self.controller.port)

    def stop(self) -> None:
        """Stop accepting connections, then let in-flight commits finish."""
        self.controller.stop()
        self.handler.close()
