"""The IMAP poller against a real Dovecot on a loopback port (throw-away Maildir).

"Someone else" (a person with a mail client, or the MTA) is a second
IMAPClient connection that appends messages and sets flags. The spool,
worker and tickets are the real ones (the ``Desk`` harness), and the cursor
is the real ``imap_state`` table. Tests whose outcome depends on storage
(main flow, restart of Echo, UIDVALIDITY dedupe) run on SQLite and
PostgreSQL; the others on SQLite.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from imapclient import SEEN
from imapclient.exceptions import CapabilityError
from sqlalchemy import select

from echodesk.config import ImapAccount
from echodesk.errors import ConfigError
from echodesk.mailbox.imap import AcceptFailed, CursorPort, ImapPoller
from echodesk.mailbox.message import Envelope
from echodesk.store.imap_state import DbCursor
from echodesk.store.models import InboundSpool
from tests.support.desk import Desk
from tests.support.dnszone import DnsZone
from tests.support.dovecot import PASSWORD, Dovecot, start_dovecot
from tests.support.mail import make_mail

LOGGER = "echodesk.mailbox.imap"
_users = itertools.count(1)


# -- fixtures and helpers ------------------------------------------------------


@pytest.fixture
def user() -> str:
    """A fresh, empty mailbox (the server's static passdb takes any user name)."""
    return f"support{next(_users)}@desk.test"


@pytest.fixture
def sqlite_desk(tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(f"sqlite:///{tmp_path / 'echodesk.db'}", tmp_path / "data")
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def account_for(server: Dovecot, user: str, **changes: Any) -> ImapAccount:
    fields: dict[str, Any] = {
        "name": "support",
        "host": server.host,
        "port": server.port,
        "tls": False,
        "user": user,
        "password": PASSWORD,
    }
    fields.update(changes)
    return ImapAccount(**fields)


def poller_for(
    server: Dovecot, user: str, desk: Desk, accept: Any = None, **kwargs: Any
) -> ImapPoller:
    changes = {k: kwargs.pop(k) for k in ("folder", "processed_folder", "password") if k in kwargs}
    cursor: CursorPort = DbCursor(desk.db)
    return ImapPoller(
        account_for(server, user, **changes), accept or desk.intake.accept, cursor, **kwargs
    )


def mail(n: int, **kwargs: Any) -> bytes:
    return make_mail(
        subject=f"Problem number {n}",
        sender=f"Customer {n} <c{n}@customer.test>",
        message_id=f"m{n}@customer.test",
        body=f"Confidential body text {n}\n",
        minutes=n,
        **kwargs,
    )


def append(
    server: Dovecot, user: str, *raws: bytes, folder: str = "INBOX", seen: bool = False
) -> None:
    with server.client(user) as other:
        for raw in raws:
            other.append(folder, raw, flags=[SEEN] if seen else [])


def folder_state(server: Dovecot, user: str, folder: str = "INBOX") -> tuple[int, dict[int, bool]]:
    """(UIDVALIDITY, {uid: is \\Seen}) as another client sees the folder."""
    with server.client(user) as other:
        status = other.select_folder(folder, readonly=True)
        flags = other.get_flags(other.search(["ALL"]))
        return int(status[b"UIDVALIDITY"]), {u: SEEN in f for u, f in flags.items()}


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` held; fails the test after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


@contextmanager
def running(poller: ImapPoller) -> Iterator[threading.Event]:
    """``poller.run`` on a thread; on exit it must stop (and log out) within 3 s."""
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), name="imap-test", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(3)
        assert not thread.is_alive(), "run() did not stop within 3 s of stop.set()"


class MemoryCursor:
    """A CursorPort for tests that never reach a server."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[int, int]] = {}

    def load(self, account: str, folder: str) -> tuple[int, int] | None:
        return self.rows.get((account, folder))

    def save(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.rows[(account, folder)] = (uidvalidity, last_uid)


def no_accept(raw: bytes, envelope: Envelope) -> int:
    raise AssertionError("no message expected")


def session_ends(server: Dovecot, user: str) -> list[str]:
    """Dovecot's log lines for the end of each IMAP session of ``user``."""
    return [
        line
        for line in server.log(tail=None).splitlines()
        if f" imap({user})<" in line and "Disconnected:" in line
    ]


def messages(logs: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in logs.records if r.name == LOGGER and text in r.getMessage()]


# -- the main flow ------------------------------------------------------------------


def test_appended_messages_become_tickets_and_a_second_poll_adds_nothing(
    dovecot: Dovecot, user: str, desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    append(dovecot, user, mail(1), mail(2), mail(3))
    poller = poller_for(dovecot, user, desk)
    try:
        assert poller.poll_once() == 3
        assert poller.poll_once() == 0
        with dovecot.client(user) as other:  # a message that comes and goes between polls
            other.append("INBOX", mail(4))
            other.select_folder("INBOX")
            other.delete_messages([4])
            other.expunge()
        assert poller.poll_once() == 0  # "UID SEARCH UID 4:*" answers UID 3: not new
    finally:
        poller.close()

    desk.run_worker_until_idle()
    assert sorted(t["subject"] for t in desk.tickets()) == [
        f"Problem number {n}" for n in (1, 2, 3)
    ]
    uidvalidity, seen = folder_state(dovecot, user)
    assert seen == {1: True, 2: True, 3: True}  # flagged only after the spool commit
    assert sorted(r["source_ref"] for r in desk.spool()) == [
        f"{uidvalidity}:{u}" for u in (1, 2, 3)
    ]
    assert {r["source"] for r in desk.spool()} == {"imap"}
    with desk.db.reading() as session:
        assert set(session.scalars(select(InboundSpool.peer))) == {"support/INBOX"}
    assert DbCursor(desk.db).load("support", "INBOX") == (uidvalidity, 3)

    received = messages(logs, "imap received")
    assert len(received) == 3
    for line in received:
        assert "account=support folder=INBOX" in line
        assert "size=" in line and "spool_id=" in line and "outcome=seen" in line
    assert not any("Confidential" in r.getMessage() for r in logs.records)


def test_a_new_poller_resumes_from_the_stored_cursor(
    dovecot: Dovecot, user: str, desk: Desk
) -> None:
    append(dovecot, user, mail(1), mail(2))
    first = poller_for(dovecot, user, desk)
    assert first.poll_once() == 2
    first.close()
    with dovecot.client(user) as other:  # a person marks everything unread again
        other.select_folder("INBOX")
        other.remove_flags([1, 2], [SEEN])

    restarted = Desk(desk.settings.database_url, desk.settings.data_dir)  # Echo restarts
    try:
        again = poller_for(dovecot, user, restarted)
        assert again.poll_once() == 0
        append(dovecot, user, mail(3))
        assert again.poll_once() == 1
        again.close()
    finally:
        restarted.close()
    assert len(desk.spool()) == 3


def test_messages_already_seen_by_someone_else_are_still_ingested(
    dovecot: Dovecot, user: str, sqlite_desk: Desk
) -> None:
    append(dovecot, user, mail(1), seen=True)
    append(dovecot, user, mail(2))
    with dovecot.client(user) as other:  # someone opens message 2 in their client
        other.select_folder("INBOX")
        other.fetch([2], ["RFC822"])
    assert folder_state(dovecot, user)[1] == {1: True, 2: True}

    poller = poller_for(dovecot, user, sqlite_desk)
    assert poller.poll_once() == 2
    poller.close()
    sqlite_desk.run_worker_until_idle()
    assert len(sqlite_desk.tickets()) == 2


# -- waiting for mail -------------------------------------------------------------


def test_a_message_appended_during_idle_arrives_within_seconds(
    dovecot: Dovecot, user: str, sqlite_desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    poller = poller_for(dovecot, user, sqlite_desk, poll_seconds=3600)
    with running(poller):
        wait_for(lambda: bool(messages(logs, "imap idling")), 5, "the poller to IDLE")
        append(dovecot, user, mail(1))
        took = wait_for(lambda: len(sqlite_desk.spool()) == 1, 5, "the message")
    assert took < 3  # with a one-hour poll interval only IDLE explains this
    assert messages(logs, "imap poller stopped")
    # Two sessions ended (the appending client's and the poller's), both by LOGOUT.
    wait_for(lambda: len(session_ends(dovecot, user)) == 2, 3, "the poller's LOGOUT")
    assert all("Disconnected: Logged out" in line for line in session_ends(dovecot, user))


def test_without_idle_it_polls_on_the_interval(
    user: str, sqlite_desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    # A server without IDLE or MOVE (a narrower capability list after login).
    with start_dovecot("imap_capability = IMAP4rev1 LITERAL+ UIDPLUS\n") as server:
        poller = poller_for(server, user, sqlite_desk, poll_seconds=1, processed_folder="Done")
        with running(poller):
            wait_for(lambda: bool(messages(logs, "imap connected")), 5, "the connection")
            append(server, user, mail(1))
            wait_for(lambda: len(sqlite_desk.spool()) == 1, 5, "the message")
            wait_for(lambda: not folder_state(server, user)[1], 5, "the move (COPY+EXPUNGE)")
        assert "idle=False" in messages(logs, "imap connected")[0]
        assert not messages(logs, "imap idling")
        assert len(folder_state(server, user, "Done")[1]) == 1


def test_a_dovecot_restart_mid_session_is_survived(
    user: str, sqlite_desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    with start_dovecot() as server:
        poller = poller_for(
            server, user, sqlite_desk, poll_seconds=3600, retry_seconds=0.1, max_retry_seconds=1
        )

        def idling() -> int:
            return len(messages(logs, "imap idling"))

        with running(poller):
            wait_for(lambda: idling() == 1, 5, "the poller to IDLE")
            append(server, user, mail(1))
            wait_for(lambda: len(sqlite_desk.spool()) == 1, 5, "the first message")
            wait_for(lambda: idling() == 2, 5, "IDLE again")
            server.restart()  # the imap process is killed under the poller
            append(server, user, mail(2))  # maybe while the poller reconnects
            wait_for(lambda: len(sqlite_desk.spool()) == 2, 10, "the message after the restart")
            wait_for(lambda: idling() >= 3, 5, "IDLE on the new connection")
            append(server, user, mail(3))
            wait_for(lambda: len(sqlite_desk.spool()) == 3, 5, "a message in the new IDLE")
        assert messages(logs, "imap error")  # the lost connection was noticed and logged
        assert len(messages(logs, "imap connected")) >= 2
    sqlite_desk.run_worker_until_idle()
    assert len(sqlite_desk.tickets()) == 3
    assert {r["state"] for r in sqlite_desk.spool()} == {"processed"}


# -- UIDVALIDITY ----------------------------------------------------------------


def test_a_uidvalidity_change_rescans_without_duplicating_tickets(
    dovecot: Dovecot, user: str, desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    with dovecot.client(user) as other:
        other.create_folder("Support")
    append(dovecot, user, mail(1), mail(2), folder="Support")
    poller = poller_for(dovecot, user, desk, folder="Support")
    assert poller.poll_once() == 2
    old_validity = folder_state(dovecot, user, "Support")[0]
    desk.run_worker_until_idle()
    assert len(desk.tickets()) == 2

    with dovecot.client(user) as other:  # recreated while the poller stays logged in
        other.delete_folder("Support")
        other.create_folder("Support")
    append(dovecot, user, mail(1), mail(2), mail(3), folder="Support")
    new_validity = folder_state(dovecot, user, "Support")[0]
    assert new_validity != old_validity

    assert poller.poll_once() == 3  # same connection; read again from UID 1
    poller.close()
    assert messages(logs, "uidvalidity changed")
    assert DbCursor(desk.db).load("support", "Support") == (new_validity, 3)

    outcomes = desk.run_worker_until_idle()
    assert sorted(o.state for o in outcomes) == ["duplicate", "duplicate", "processed"]
    assert sorted(t["subject"] for t in desk.tickets()) == [
        f"Problem number {n}" for n in (1, 2, 3)
    ]


def test_the_db_cursor_never_moves_back_within_one_uidvalidity(desk: Desk) -> None:
    cursor = DbCursor(desk.db)
    assert cursor.load("support", "INBOX") is None
    cursor.save("support", "INBOX", 7, 10)
    cursor.save("support", "INBOX", 7, 4)  # a slower second poller of the same mailbox
    cursor.save("support", "Other", 9, 1)
    assert cursor.load("support", "INBOX") == (7, 10)
    cursor.save("support", "INBOX", 8, 0)  # a new UIDVALIDITY replaces it
    assert cursor.load("support", "INBOX") == (8, 0)
    assert cursor.load("support", "Other") == (9, 1)
    assert cursor.load("sales", "INBOX") is None


# -- move mode, failures ----------------------------------------------------------


def test_processed_folder_mode_moves_mail_out_of_the_inbox(
    dovecot: Dovecot, user: str, sqlite_desk: Desk
) -> None:
    append(dovecot, user, mail(1), mail(2))
    poller = poller_for(dovecot, user, sqlite_desk, processed_folder="Processed")
    assert poller.poll_once() == 2  # "Processed" did not exist: created
    assert folder_state(dovecot, user)[1] == {}
    assert list(folder_state(dovecot, user, "Processed")[1].values()) == [False, False]

    # A crash after the spool commit but before the move leaves a spooled
    # message in the INBOX, behind the cursor: the next poll moves it, once.
    append(dovecot, user, mail(3))
    uidvalidity = folder_state(dovecot, user)[0]
    DbCursor(sqlite_desk.db).save("support", "INBOX", uidvalidity, 3)
    assert poller.poll_once() == 0
    poller.close()
    assert folder_state(dovecot, user)[1] == {}
    assert len(folder_state(dovecot, user, "Processed")[1]) == 3
    assert len(sqlite_desk.spool()) == 2


def test_a_failing_accept_leaves_the_message_new_on_the_server(
    dovecot: Dovecot, user: str, sqlite_desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    append(dovecot, user, mail(1), mail(2))
    calls: list[str] = []

    def accept(raw: bytes, envelope: Envelope) -> int:
        calls.append(envelope.source_ref)
        if len(calls) == 2:
            raise RuntimeError("database is unreachable")
        return sqlite_desk.intake.accept(raw, envelope)

    poller = poller_for(dovecot, user, sqlite_desk, accept=accept)
    with pytest.raises(AcceptFailed, match="uid 2"):
        poller.poll_once()
    uidvalidity, seen = folder_state(dovecot, user)
    assert seen == {1: True, 2: False}
    assert DbCursor(sqlite_desk.db).load("support", "INBOX") == (uidvalidity, 1)
    [failed] = messages(logs, "outcome=failed")
    assert "uid=2 " in failed and "spool_id=- " in failed
    assert "error=RuntimeError: database is unreachable" in failed

    assert poller.poll_once() == 1  # the next poll gets it, and only it
    poller.close()
    assert folder_state(dovecot, user)[1] == {1: True, 2: True}
    assert DbCursor(sqlite_desk.db).load("support", "INBOX") == (uidvalidity, 2)
    assert calls[-1] == f"{uidvalidity}:2" and len(calls) == 3


def test_a_wrong_password_is_logged_clearly_and_retried(
    dovecot: Dovecot, user: str, sqlite_desk: Desk, logs: pytest.LogCaptureFixture
) -> None:
    poller = poller_for(
        dovecot,
        user,
        sqlite_desk,
        password="not-the-password",
        retry_seconds=0.05,
        max_retry_seconds=0.2,
    )
    with running(poller):
        wait_for(lambda: len(messages(logs, "login refused")) >= 3, 10, "three login attempts")
    line = messages(logs, "login refused")[0]
    assert f"user {user}" in line and "check the user and password" in line
    assert "AUTHENTICATIONFAILED" in line
    assert not any("not-the-password" in r.getMessage() for r in logs.records)
    assert all(r.exc_info is None for r in logs.records)  # expected errors: no traceback


def test_starttls_is_required_when_configured_never_plain_text(
    dovecot: Dovecot, user: str, sqlite_desk: Desk
) -> None:
    account = account_for(dovecot, user, tls=False, starttls=True)
    poller = ImapPoller(account, sqlite_desk.intake.accept, DbCursor(sqlite_desk.db))
    with pytest.raises(CapabilityError, match="STARTTLS"):  # this server offers no TLS
        poller.poll_once()
    assert f"user=<{user}>" not in dovecot.log(tail=None)  # no login was attempted


def test_unsafe_or_contradictory_accounts_are_refused_at_start() -> None:
    cursor = MemoryCursor()
    base = {"name": "support", "user": "u", "password": "p"}
    cases = [
        ImapAccount(host="imap.example.com", tls=False, **base),
        ImapAccount(host="imap.example.com", tls=True, starttls=True, **base),
        ImapAccount(host="imap.example.com", processed_folder="INBOX", **base),
        ImapAccount(host="imap.example.com", name="support", user="u"),
    ]
    for account in cases:
        with pytest.raises(ConfigError):
            ImapPoller(account, no_accept, cursor)
    ImapPoller(ImapAccount(host="127.0.0.1", tls=False, **base), no_accept, cursor)
    ImapPoller(ImapAccount(host="::1", tls=False, **base), no_accept, cursor)


def test_backoff_doubles_and_is_capped() -> None:
    account = ImapAccount(name="a", host="localhost", user="u", password="p", tls=False)
    poller = ImapPoller(account, no_accept, MemoryCursor())
    assert [poller.backoff(n) for n in range(10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert poller.backoff(10_000) == 300


def test_mail_fetched_by_imap_is_checked_by_echo_and_forged_results_are_dropped(
    dovecot: Dovecot, user: str, desk: Desk, dns_zone: DnsZone
) -> None:
    """The mailbox provider's own header counts; one the sender wrote under its name,
    lower down, does not; Echo adds its own DKIM/DMARC results (no SPF: it did not
    take the connection)."""
    desk.reconfigure(
        verify_mail=True, dns_resolver=dns_zone.server, trusted_authserv_ids=("imap.desk.test",)
    )
    signed = dns_zone.sign(
        make_mail(sender="Alice <alice@good.test>", message_id="s1@good.test"), "good.test"
    )
    forged = (
        b"Authentication-Results: imap.desk.test; spf=none smtp.mailfrom=good.test\r\n"
        b"Received: from evil.example by imap.desk.test\r\n"
        b"Authentication-Results: imap.desk.test; dkim=pass header.d=good.test; "
        b"dmarc=pass header.from=good.test\r\n"
        b"Authentication-Results: echodesk.desk.test; dmarc=pass header.from=good.test\r\n"
    ) + make_mail(sender="Alice <alice@good.test>", message_id="f1@evil.test", minutes=1)
    append(dovecot, user, signed, forged)
    poller = poller_for(dovecot, user, desk)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.close()
    desk.run_worker_until_idle()
    states = {m["message_id"]: m["sender_auth"] for n in (1, 2) for m in desk.ticket(n)["messages"]}
    assert states == {"s1@good.test": "pass", "f1@evil.test": "fail"}


def test_a_file_import_is_not_checked_and_cannot_speak_for_echo(
    desk: Desk, dns_zone: DnsZone
) -> None:
    desk.reconfigure(verify_mail=True, dns_resolver=dns_zone.server)
    forged = b"Authentication-Results: echodesk.desk.test; dmarc=pass header.from=good.test\r\n"
    desk.accept(forged + make_mail(sender="alice@good.test"), source="file")
    desk.run_worker_until_idle()
    (message,) = desk.ticket(1)["messages"]
    assert message["sender_auth"] == "none"


def test_a_message_appended_just_before_idle_begins_is_not_left_waiting(
    dovecot: Dovecot, user: str, sqlite_desk: Desk
) -> None:
    """The round trip between the NOOP and IDLE: mail that lands in it is found within
    seconds, not when the IDLE is renewed (here after 30 seconds)."""
    poller = poller_for(dovecot, user, sqlite_desk, poll_seconds=3600, idle_seconds=30)
    assert poller.poll_once() == 0
    client = poller._client
    original = client.idle
    raced: list[bool] = []

    def idle_after_an_append() -> Any:
        if not raced:  # the message lands after the NOOP, before the server hears IDLE
            raced.append(True)
            append(dovecot, user, mail(1))
        return original()

    client.idle = idle_after_an_append
    started = time.monotonic()
    poller._wait_for_news(threading.Event())
    assert raced and time.monotonic() - started < 10
    assert poller.poll_once() == 1
    poller.close()
