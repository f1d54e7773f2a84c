"""Handing composed mail to the world: an SMTP relay, or .eml files on disk.

Both implement :class:`Sender`; settings choose which (a relay when one is
configured, files otherwise, so everything works on a fresh machine). A
sender never raises for a delivery problem: it answers with a
:class:`SendResult` that says whether the failure is permanent (an SMTP 5xx:
do not try again) or temporary (4xx, a refused or dropped connection: try
again later). Retrying and recording are the desk's job.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from echodesk.config import RelaySettings
from echodesk.errors import EchoError
from echodesk.mailbox.oauth import TokenSource, oauthbearer, xoauth2

__all__ = ["EmlFileSender", "SendResult", "Sender", "SmtpRelaySender"]


@dataclass(frozen=True)
class SendResult:
    """What became of one attempt: ``ok``, or the failure and whether it is final."""

    ok: bool
    permanent: bool = False
    code: int = 0
    detail: str = ""

    @classmethod
    def from_reply(cls, code: int, text: bytes | str) -> SendResult:
        message = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        detail = f"{code} {' '.join(message.split())}"[:500]
        return cls(ok=False, permanent=500 <= code < 600, code=code, detail=detail)

    @classmethod
    def temporary(cls, detail: str) -> SendResult:
        return cls(ok=False, permanent=False, detail=detail[:500])


class Sender(Protocol):
    """Delivers one message to one recipient."""

    def send(self, mail_from: str, rcpt: str, raw: bytes) -> SendResult: ...

    def close(self) -> None: ...


class SmtpRelaySender:
    """Delivery through the configured relay, one connection reused for a batch.

    STARTTLS, when configured, is required: a relay that does not offer it is
    a temporary failure, never a silent fall-back to plain text.
    """

    def __init__(
        self,
        relay: RelaySettings,
        local_hostname: str | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self.relay = relay
        self.local_hostname = local_hostname
        self.tokens = tokens
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        relay = self.relay
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if relay.tls:
            conn = smtplib.SMTP_SSL(
                relay.host,
                relay.effective_port,
                local_hostname=self.local_hostname,
                timeout=relay.timeout,
                context=context,
            )
        else:
            conn = smtplib.SMTP(
                relay.host,
                relay.effective_port,
                local_hostname=self.local_hostname,
                timeout=relay.timeout,
            )
        try:
            conn.ehlo()
            if relay.starttls:
                if not conn.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the relay does not offer STARTTLS")
                conn.starttls(context=context)
                conn.ehlo()
            if self.tokens is not None:
                self._token_login(conn, self.tokens)
            elif relay.user:
                conn.login(relay.user, relay.password)
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _token_login(self, conn: smtplib.SMTP, tokens: TokenSource) -> None:
        """AUTH with an access token; refused, once more with a renewed one."""
        try:
            self._sasl(conn, tokens.access_token())
        except smtplib.SMTPAuthenticationError:
            self._sasl(conn, tokens.access_token(renew=True))

    def _sasl(self, conn: smtplib.SMTP, token: str) -> None:
        relay = self.relay
        if relay.sasl == "oauthbearer":
            first = oauthbearer(relay.user, token, relay.host, relay.effective_port)
        else:
            first = xoauth2(relay.user, token)
        # On a refusal the server sends a 334 with details; the empty answer ends the exchange.
        conn.auth(relay.sasl.upper(), lambda challenge=None: "" if challenge else first)

    def send(self, mail_from: str, rcpt: str, raw: bytes) -> SendResult:
        try:
            if self._conn is None:
                self._conn = self._connect()
            self._conn.sendmail(mail_from, [rcpt], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(rcpt, (554, b"recipient refused"))
            return SendResult.from_reply(code, text)
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth
            self._drop_if_broken(exc.smtp_code)
            if isinstance(exc, smtplib.SMTPAuthenticationError):
                return SendResult.temporary(f"relay login failed: {exc.smtp_code}")
            return SendResult.from_reply(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return SendResult.temporary(f"relay {self.relay.host}: {type(exc).__name__}: {exc}")
        except EchoError as exc:  # no access token: consent needed, or the provider is away
            self.close()
            return SendResult.temporary(f"relay {self.relay.host}: {exc}")
        return SendResult(ok=True, code=250, detail="250 accepted by the relay")

    def _drop_if_broken(self, code: int) -> None:
        """After 421 (service closing) or a failed login the connection is no use."""
        if code in (421, 530, 534, 535):
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            _close_quietly(self._conn)
            self._conn = None


def _close_quietly(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


class EmlFileSender:
    """The embedded default: each message becomes an .eml file in a folder.

    The envelope is recorded in ``Return-Path`` and ``X-Envelope-To`` on top,
    so a mail client opens the file as the message the customer would get.
    Files are written under a temporary name and renamed, so a reader never
    sees half a message.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, mail_from: str, rcpt: str, raw: bytes) -> SendResult:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        name = f"{stamp}-{secrets.token_hex(4)}.eml"
        envelope = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: <{rcpt}>\r\n".encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temp = self.folder / f".{name}.tmp"
            with temp.open("wb") as fh:
                fh.write(envelope + raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, self.folder / name)
        except OSError as exc:
            return SendResult.temporary(f"cannot write {self.folder}: {exc.strerror}")
        return SendResult(ok=True, detail=f"written to {self.folder / name}")

    def close(self) -> None:
        return None
