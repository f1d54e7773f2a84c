"""The IMAP poller: new mail in a mailbox becomes rows in the inbound spool.

What is new is decided by UID against a stored cursor (UIDVALIDITY, last UID),
never by the ``\\Seen`` flag: a person reading the mailbox in their own client
must not hide mail from Echo (FreeScout #2416). Bodies are fetched with
``BODY.PEEK[]``, which leaves ``\\Seen`` alone. For each message, in this
order (DESIGN §2.1):

1. ``accept`` commits the raw bytes to the spool;
2. the cursor moves past its UID;
3. only then is the message flagged ``\\Seen`` or moved to ``processed_folder``.

A crash between any two steps loses nothing: before 1 the message is still new
on the server; after 1 the worst case is a message fetched twice (the spool's
Message-ID + content-hash dedupe records the second copy as a duplicate) or
left unflagged. When UIDVALIDITY changes the cursor belongs to a mailbox that
no longer exists, so the folder is read again from UID 1, relying on the same
dedupe.

The poller waits with IDLE when the server offers it (re-issued well before
the 29-minute limit of RFC 2177) and polls every ``poll_seconds`` otherwise.
Any error drops the connection; :meth:`ImapPoller.run` logs it and reconnects
with exponential backoff. This module never logs message content, and knows
nothing of the database: the spool is an :data:`Accept` callable and the
cursor a :class:`CursorPort`.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import LoginError

from echodesk.config import ImapAccount
from echodesk.errors import ConfigError, EchoError
from echodesk.mailbox.message import Accept, Envelope
from echodesk.mailbox.oauth import TokenSource

log = logging.getLogger(__name__)

#: Messages per ``FETCH BODY.PEEK[]``, and the most bytes one fetch may bring.
CHUNK_MESSAGES = 20
CHUNK_BYTES = 10 * 1024 * 1024
#: UIDs per ``FETCH RFC822.SIZE`` used to plan those chunks.
SIZE_BATCH = 500
#: How long one IDLE wait lasts before ``stop`` is looked at again.
IDLE_CHECK_SECONDS = 1.0
#: How long one IDLE lasts before a NOOP looks for mail that slipped in as it began.
IDLE_LOOK_AGAIN_SECONDS = 30.0
#: Socket timeout for LOGOUT, so a hung server cannot hold up a shutdown.
LOGOUT_TIMEOUT = 5.0

#: Errors that mean "the server or the network failed": logged without traceback.
_EXPECTED = (OSError, imaplib.IMAP4.error, EchoError)


class CursorPort(Protocol):
    """Where the poller keeps, per account and folder, how far it has read."""

    def load(self, account: str, folder: str) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) saved for this folder, or None if never polled."""
        ...

    def save(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Remember that every UID up to ``last_uid`` is in the spool (committed on return)."""
        ...


class HealthPort(Protocol):
    """Where the poller reports how each pass went (see ``echodesk status``)."""

    def succeeded(self, name: str) -> None: ...

    def failed(self, name: str, error: str) -> None: ...


class ImapError(EchoError):
    """The IMAP server cannot be used as configured (login refused, connection lost)."""


class AcceptFailed(EchoError):
    """``accept`` raised for a fetched message; it stays new on the server."""


def describe(exc: BaseException) -> str:
    """Type and first line of an error: never a traceback or SQL parameters (mail bytes)."""
    text = str(exc).strip()
    if text[:2] in ("b'", 'b"') and text[-1:] == text[1:2]:
        text = text[2:-1]  # imaplib puts the server's bytes in the message
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_account(account: ImapAccount) -> None:
    """Refuse settings that would send a password in clear text or loop on a folder."""
    where = f"imap account '{account.name}'"
    if account.tls and account.starttls:
        raise ConfigError(
            f"{where}: tls and starttls exclude each other: use 'tls: true' for implicit "
            "TLS (port 993) or 'tls: false, starttls: true' for STARTTLS (port 143)"
        )
    if not (account.tls or account.starttls) and not is_loopback(account.host):
        raise ConfigError(
            f"{where}: plain-text IMAP to {account.host} is refused; set tls or starttls "
            "(plain text is allowed on loopback only)"
        )
    if not account.password and not account.oauth:
        raise ConfigError(f"{where}: no password (set password_env or password, or oauth)")
    if account.processed_folder and account.processed_folder == account.folder:
        raise ConfigError(f"{where}: processed_folder must differ from folder")


class ImapPoller:
    """Fetches one account's folder into the spool; see the module docstring.

    Use it from one thread: :meth:`poll_once` for a single pass, or
    :meth:`run` until a ``threading.Event`` is set (it closes the connection
    itself when it returns).
    """

    def __init__(
        self,
        account: ImapAccount,
        accept: Accept,
        cursor: CursorPort,
        *,
        poll_seconds: int = 60,
        idle_seconds: int = 25 * 60,
        timeout: float = 60,
        retry_seconds: float = 2.0,
        max_retry_seconds: float = 300.0,
        health: HealthPort | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        check_account(account)
        if account.oauth and tokens is None:
            raise ConfigError(
                f"imap account '{account.name}': signs in with oauth, no tokens given"
            )
        self.health = health
        self.tokens = tokens
        self.account = account
        self.accept = accept
        self.cursor = cursor
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self._client: Any = None
        self._stop: threading.Event | None = None

    @property
    def where(self) -> str:
        """``account/folder``: the spool row's peer, and how errors name the mailbox."""
        return f"{self.account.name}/{self.account.folder}"

    # -- one pass --------------------------------------------------------------

    def poll_once(self) -> int:
        """Connect if needed and spool everything new since the cursor; how many were accepted.

        On any error the connection is dropped (the next call starts afresh)
        and the error is raised.
        """
        try:
            moved = self._poll(self._connect())
        except BaseException as exc:
            self._drop()
            self._report(exc)
            raise
        self._report(None)
        return moved

    @property
    def name(self) -> str:
        """The connector's name in health records: ``imap:account/folder``."""
        return self.account.connector

    def _report(self, exc: BaseException | None) -> None:
        """Record the pass's result; a record that cannot be written is only logged."""
        if self.health is None or isinstance(exc, KeyboardInterrupt | SystemExit):
            return
        try:
            if exc is None:
                self.health.succeeded(self.name)
            else:
                self.health.failed(self.name, describe(exc))
        except Exception as err:  # noqa: BLE001 - health must never stop the poller
            log.warning("imap health not recorded account=%s: %s", self.account.name, err)

    def _poll(self, client: Any) -> int:
        status = client.select_folder(self.account.folder)
        uidvalidity = int(status[b"UIDVALIDITY"])
        last = self._last_uid(uidvalidity)
        if self.account.processed_folder and last:
            self._move_leftovers(client, last)
        accepted = 0
        for chunk in self._chunks(client, self._new_uids(client, status, last)):
            accepted += self._fetch_chunk(client, uidvalidity, chunk)
            if self._stopping():
                break
        return accepted

    def _last_uid(self, uidvalidity: int) -> int:
        """The cursor's last UID; 0 (read everything) if there is none or it is stale."""
        stored = self.cursor.load(self.account.name, self.account.folder)
        if stored is None:
            return 0
        old_validity, last = stored
        if old_validity == uidvalidity:
            return last
        log.warning(
            "imap uidvalidity changed account=%s folder=%s old=%s new=%s: reading the "
            "folder again from UID 1; mail already spooled is recorded as duplicate",
            self.account.name,
            self.account.folder,
            old_validity,
            uidvalidity,
        )
        self.cursor.save(self.account.name, self.account.folder, uidvalidity, 0)
        return 0

    def _new_uids(self, client: Any, status: dict[bytes, Any], last: int) -> list[int]:
        """UIDs above ``last``, ascending. ``N:*`` also matches the highest UID when
        nothing is new (RFC 3501 6.4.8), hence the filter."""
        if not status.get(b"EXISTS"):
            return []
        uidnext = status.get(b"UIDNEXT")
        if uidnext is not None and int(uidnext) <= last + 1:
            return []
        found = client.search(["UID", f"{last + 1}:*"])
        return sorted(int(uid) for uid in found if int(uid) > last)

    def _chunks(self, client: Any, uids: list[int]) -> Iterator[list[int]]:
        """Groups of UIDs small enough to fetch at once (count and bytes)."""
        for start in range(0, len(uids), SIZE_BATCH):
            part = uids[start : start + SIZE_BATCH]
            sizes = client.fetch(part, ["RFC822.SIZE"])
            chunk: list[int] = []
            total = 0
            for uid in part:
                if uid not in sizes:
                    continue  # expunged since the search
                size = int(sizes[uid].get(b"RFC822.SIZE", 0))
                if chunk and (len(chunk) >= CHUNK_MESSAGES or total + size > CHUNK_BYTES):
                    yield chunk
                    chunk, total = [], 0
                chunk.append(uid)
                total += size
            if chunk:
                yield chunk

    def _fetch_chunk(self, client: Any, uidvalidity: int, chunk: list[int]) -> int:
        data = client.fetch(chunk, ["BODY.PEEK[]"])
        accepted = 0
        for uid in chunk:
            raw = data.get(uid, {}).get(b"BODY[]")
            if raw is None:
                log.warning(
                    "imap message vanished account=%s folder=%s uid=%s",
                    self.account.name,
                    self.account.folder,
                    uid,
                )
                continue
            self._take(client, uidvalidity, uid, bytes(raw))
            accepted += 1
            if self._stopping():
                break
        return accepted

    def _take(self, client: Any, uidvalidity: int, uid: int, raw: bytes) -> None:
        """Spool one message, advance the cursor, then flag or move it — in that order."""
        envelope = Envelope(
            source="imap",
            peer=self.where,
            source_ref=f"{uidvalidity}:{uid}",
            received_at=datetime.now(UTC),
        )
        try:
            spool_id = self.accept(raw, envelope)
        except Exception as exc:
            self._log_message(uid, len(raw), None, "failed", describe(exc))
            raise AcceptFailed(
                f"{self.where} uid {uid}: the spool did not take the message ({describe(exc)})"
            ) from exc
        try:
            self.cursor.save(self.account.name, self.account.folder, uidvalidity, uid)
            outcome = self._settle(client, [uid])
        except BaseException as exc:
            self._log_message(uid, len(raw), spool_id, "spooled-unflagged", describe(exc))
            raise
        self._log_message(uid, len(raw), spool_id, outcome, "")

    def _log_message(
        self, uid: int, size: int, spool_id: int | None, outcome: str, error: str
    ) -> None:
        """The one structured line per received message (no content, ever)."""
        level = logging.INFO if spool_id is not None and not error else logging.ERROR
        log.log(
            level,
            "imap received account=%s folder=%s uid=%s size=%d spool_id=%s outcome=%s%s",
            self.account.name,
            self.account.folder,
            uid,
            size,
            spool_id if spool_id is not None else "-",
            outcome,
            f" error={error}" if error else "",
        )

    def _settle(self, client: Any, uids: list[int]) -> str:
        """Mark spooled messages as handled on the server: \\Seen, or moved."""
        target = self.account.processed_folder
        if not target:
            client.add_flags(uids, [SEEN], silent=True)
            return "seen"
        _move(client, uids, target)
        return "moved"

    def _move_leftovers(self, client: Any, last: int) -> None:
        """Move messages spooled earlier whose move failed (a crash or error in between).

        Every UID up to the cursor is in the spool, so whatever of them is
        still in the folder only missed its move.
        """
        found = [int(u) for u in client.search(["UID", f"1:{last}"]) if int(u) <= last]
        if found:
            _move(client, found, self.account.processed_folder)
            log.info(
                "imap moved already-spooled messages account=%s folder=%s count=%d to=%s",
                self.account.name,
                self.account.folder,
                len(found),
                self.account.processed_folder,
            )

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # -- the connection --------------------------------------------------------

    def _connect(self) -> Any:
        """The logged-in client, opening it if needed; never logs in over plain text
        unless the account is plain on loopback (checked at construction)."""
        if self._client is not None:
            return self._client
        account = self.account
        context = ssl.create_default_context() if (account.tls or account.starttls) else None
        client = IMAPClient(
            account.host, account.port, ssl=account.tls, ssl_context=context, timeout=self.timeout
        )
        try:
            if account.starttls:
                client.starttls(context)  # raises if not offered: no plain-text fallback
            self._login(client)
            if account.processed_folder:
                _ensure_folder(client, account.processed_folder)
        except BaseException:
            _shutdown(client)
            raise
        self._client = client
        log.info(
            "imap connected account=%s host=%s port=%s folder=%s idle=%s",
            account.name,
            account.host,
            account.port,
            account.folder,
            bool(client.has_capability("IDLE")),
        )
        return client

    def _login(self, client: Any) -> None:
        account = self.account
        try:
            if self.tokens is None:
                client.login(account.user, account.password)
            else:
                self._token_login(client, self.tokens)
        except LoginError as exc:
            what = "the OAuth2 consent" if self.tokens else "the user and password"
            raise ImapError(
                f"IMAP login refused for account '{account.name}' (user {account.user} at "
                f"{account.host}:{account.port}): {describe(exc).partition(': ')[2]}; "
                f"check {what}"
            ) from None

    def _token_login(self, client: Any, tokens: TokenSource) -> None:
        """Sign in with an access token; refused, once more with a renewed one."""
        try:
            self._sasl(client, tokens.access_token())
        except LoginError:
            log.info("imap token refused account=%s: renewing it once", self.account.name)
            self._sasl(client, tokens.access_token(renew=True))

    def _sasl(self, client: Any, token: str) -> None:
        account = self.account
        if account.sasl == "oauthbearer":
            client.oauthbearer_login(account.user, token)
        else:
            client.oauth2_login(account.user, token)

    def _drop(self) -> None:
        """Forget a connection that failed, without talking to the server again."""
        client, self._client = self._client, None
        if client is not None:
            _shutdown(client)

    def close(self) -> None:
        """Log out (best effort, short timeout) and forget the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.socket().settimeout(LOGOUT_TIMEOUT)
            client.logout()
        except Exception:  # noqa: BLE001 - the connection is going away either way
            _shutdown(client)

    # -- the loop --------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll, wait for news, repeat until ``stop`` is set; errors back off and reconnect."""
        self._stop = stop
        failures = 0
        log.info("imap poller started account=%s folder=%s", self.account.name, self.account.folder)
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                    failures = 0
                    self._wait_for_news(stop)
                except Exception as exc:  # noqa: BLE001 - any failure means "reconnect later"
                    self._drop()
                    delay = self.backoff(failures)
                    failures += 1
                    self._log_failure(exc, delay)
                    stop.wait(delay)
        finally:
            self.close()
            self._stop = None
            log.info(
                "imap poller stopped account=%s folder=%s", self.account.name, self.account.folder
            )

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row: doubling, capped."""
        return float(min(self.retry_seconds * 2 ** min(failures, 30), self.max_retry_seconds))

    def _log_failure(self, exc: Exception, delay: float) -> None:
        expected = isinstance(exc, _EXPECTED)
        log.error(
            "imap error account=%s host=%s folder=%s: %s; reconnecting in %.1fs",
            self.account.name,
            self.account.host,
            self.account.folder,
            describe(exc),
            delay,
            exc_info=None if expected else exc,  # a bug: show where
        )

    def _wait_for_news(self, stop: threading.Event) -> None:
        """Return when there may be new mail: IDLE if offered, else after ``poll_seconds``.

        Dovecot reports in IDLE only changes made after IDLE began, not those
        since the last command; mail that lands in the round trip between a
        NOOP and IDLE would wait for the IDLE to be renewed. So the wait is a
        NOOP (which reports what came during the fetch), a short first IDLE,
        then IDLEs of ``IDLE_LOOK_AGAIN_SECONDS`` with a NOOP between them:
        mail is seen at once in IDLE, and mail that slipped between the two
        within that many seconds, never 25 minutes later.
        """
        client = self._client
        if client is None or not client.has_capability("IDLE"):
            stop.wait(self.poll_seconds)
            return
        if self._news(client) or self._idle(client, stop, IDLE_CHECK_SECONDS):
            return
        deadline = time.monotonic() + self.idle_seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._news(client):
                return
            if self._idle(client, stop, min(IDLE_LOOK_AGAIN_SECONDS, max(left, 0.0))):
                return

    @staticmethod
    def _news(client: Any) -> bool:
        return any(_is_new_mail(r) for r in client.noop()[1])

    def _idle(self, client: Any, stop: threading.Event, seconds: float) -> bool:
        """IDLE until new mail (True), ``seconds`` or ``stop`` (False).

        A server that says BYE or drops the connection raises, here or in
        ``idle_done``. ``idle_check`` returns at once with nothing when the
        socket hit EOF, so an early empty return ends the wait and lets DONE
        find out whether the connection is still alive.
        """
        client.idle()
        if seconds > IDLE_CHECK_SECONDS:  # the long wait (the short first look is not logged)
            log.debug("imap idling account=%s folder=%s", self.account.name, self.account.folder)
        deadline = time.monotonic() + seconds
        news = False
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            responses = client.idle_check(timeout=IDLE_CHECK_SECONDS)
            if any(_is_bye(r) for r in responses):
                raise ImapError(f"IMAP server closed the connection for '{self.where}' (BYE)")
            if any(_is_new_mail(r) for r in responses):
                news = True
                break
            if not responses and time.monotonic() - started < IDLE_CHECK_SECONDS / 2:
                break
        # Responses that came in after the last check arrive with DONE's answer.
        _, late = client.idle_done()
        return news or any(_is_new_mail(r) for r in late)


def _is_bye(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def _is_new_mail(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"


def _move(client: Any, uids: list[int], target: str) -> None:
    """MOVE if offered; else COPY, flag \\Deleted and expunge (by UID with UIDPLUS)."""
    if client.has_capability("MOVE"):
        client.move(uids, target)
        return
    client.copy(uids, target)
    client.add_flags(uids, [DELETED], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()  # also removes what others flagged \Deleted: no narrower way


def _ensure_folder(client: Any, name: str) -> None:
    """Create the processed folder on first use (another poller may race us to it)."""
    if client.folder_exists(name):
        return
    try:
        client.create_folder(name)
    except imaplib.IMAP4.error:
        if not client.folder_exists(name):
            raise


def _shutdown(client: Any) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


__all__ = ["AcceptFailed", "CursorPort", "ImapError", "ImapPoller", "check_account"]
