"""The agent's day, end to end: ``echodesk serve`` with real SMTP in and a recording
relay out, on SQLite and PostgreSQL.

Customers and agents write by SMTP; agents answer the notifications the relay
received (their real Reply-To and Message-ID); what reaches anyone is read back
from the relay. The scheduler is serve's own, run every second; moments that
would take hours (a snooze, a reminder) are moved into the past in the database
while serve is stopped or running, as time passing would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.agent import agent_reply, text_of
from tests.support.livedesk import Desk, live_desk
from tests.support.mail import make_mail
from tests.support.relay import RecordingRelay
from tests.support.serve import EchoProcess

FAST = {"ECHODESK_WAKEUP_CHECK_SECONDS": "1", "ECHODESK_SLA_CHECK_SECONDS": "1"}


@pytest.fixture
def desk(tmp_path: Path, db_url: str) -> Iterator[Desk]:
    with live_desk(tmp_path, db_url, **FAST) as desk:
        yield desk


def _customer(desk: Desk, mid: str, reply_to: str = "", when: datetime | None = None) -> None:
    raw = make_mail(
        message_id=mid,
        subject="Re: Printer on fire" if reply_to else "Printer on fire",
        in_reply_to=reply_to or None,
        references=[reply_to] if reply_to else None,
    )
    if when is not None:  # dated as it was written
        msg = EmailMessage()
        msg["From"] = "Alice Customer <alice@customer.test>"
        msg["To"] = "support@desk.test"
        msg["Subject"] = "Printer on fire"
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = f"<{mid}>"
        msg.set_content("Hello, my printer is on fire.\n")
        raw = msg.as_bytes(policy=SMTP)
    desk.smtp(raw, "support@desk.test", "alice@customer.test")


def _answer(desk: Desk, note: EmailMessage, body: str, mid: str, who: str = "bob") -> None:
    sender = {"bob": "Bob Agent <bob@desk.test>", "eve": "Eve Agent <eve@desk.test>"}[who]
    raw, to = agent_reply(note, body, sender=sender, message_id=mid)
    desk.smtp(raw, to, f"{who}@desk.test")


def _to_alice(desk: Desk) -> list[str]:
    return [
        text_of(r.message()).strip()
        for r in desk.relay.received
        if r.rcpt == ("alice@customer.test",)
    ]


def _told(desk: Desk, agent: str, what: str) -> list[str]:
    return [
        text_of(r.message())
        for r in desk.relay.received
        if r.rcpt == (agent,) and what in text_of(r.message())
    ]


def _until(check: object, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _sql(db_url: str, statement: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _cli(desk: Desk, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echodesk.cli", *args],
        env=desk.echo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_second_of_two_agents_answering_one_notification_is_held_until_send(
    desk: Desk,
) -> None:
    _customer(desk, "q@customer.test")
    (bob_note,) = desk.mail_to("bob@desk.test", 1)
    (eve_note,) = desk.mail_to("eve@desk.test", 1)
    _answer(desk, bob_note, "Hello Alice, Bob here: unplug it.", "b1@desk.test")
    _until(lambda: _to_alice(desk), what="Bob's reply")
    _answer(desk, eve_note, "Hello Alice, Eve here: call the fire brigade.", "e1@desk.test", "eve")
    _until(lambda: _told(desk, "eve@desk.test", "Reply held on TKT-0001"), what="the held notice")
    (held,) = _told(desk, "eve@desk.test", "Reply held on TKT-0001")
    assert "Bob Agent replied since your notification" in held
    assert "> Hello Alice, Eve here: call the fire brigade." in held
    assert "Bob here: unplug it." in held  # the newer message she had not seen
    desk.settle()
    assert _to_alice(desk) == ["Hello Alice, Bob here: unplug it."]
    held_mail = next(
        r.message()
        for r in desk.relay.received
        if r.rcpt == ("eve@desk.test",) and "Reply held" in text_of(r.message())
    )
    _answer(desk, held_mail, "#send", "e2@desk.test", "eve")
    _until(lambda: len(_to_alice(desk)) == 2, what="Eve's reply")
    desk.settle()
    assert _to_alice(desk)[-1] == "Hello Alice, Eve here: call the fire brigade."
    assert len(_to_alice(desk)) == 2


def test_a_customer_message_between_notification_and_reply_holds_the_reply(desk: Desk) -> None:
    _customer(desk, "q@customer.test")
    (first,) = desk.mail_to("bob@desk.test", 1)
    _customer(desk, "q2@customer.test", reply_to="q@customer.test")
    desk.mail_to("bob@desk.test", 2)
    _answer(desk, first, "Please unplug it.", "b1@desk.test")
    _until(lambda: _told(desk, "bob@desk.test", "Reply held on TKT-0001"), what="the held notice")
    (held,) = _told(desk, "bob@desk.test", "Reply held on TKT-0001")
    assert "the customer wrote again since your notification" in held
    desk.settle()
    assert _to_alice(desk) == []


def test_saved_replies_fill_every_variable_and_a_bad_file_keeps_the_last_good(
    desk: Desk, tmp_path: Path
) -> None:
    replies = tmp_path / "replies.yaml"  # beside serve's settings file
    replies.write_text(
        "full: |\n"
        "  Dear $customer_name ($customer_first_name), about $ticket ($subject):\n"
        "  you have $open_tickets open ticket(s). -- $agent_name\n"
    )
    _customer(desk, "q@customer.test")
    (note,) = desk.mail_to("bob@desk.test", 1)
    _answer(desk, note, "#reply full", "b1@desk.test")
    _until(lambda: _to_alice(desk), what="the saved reply")
    assert _to_alice(desk) == [
        "Dear Alice Customer (Alice), about TKT-0001 (Printer on fire):\n"
        "you have 1 open ticket(s). -- Bob Agent"
    ]
    _answer(desk, note, "#reply nosuch\n\nHello", "b2@desk.test")
    _until(lambda: _told(desk, "bob@desk.test", "no saved reply named 'nosuch'"), what="error")
    (error,) = _told(desk, "bob@desk.test", "no saved reply named 'nosuch'")
    assert "#reply nosuch" in error
    replies.write_text("full: Hello $whom\n")  # an unknown variable: refused whole
    _until(lambda: "unknown variable $whom" in _cli(desk, "status").stdout, what="status")
    _answer(desk, note, "#reply full", "b3@desk.test")
    _until(lambda: len(_to_alice(desk)) == 2, what="the last good saved reply")
    assert _to_alice(desk)[-1].startswith("Dear Alice Customer (Alice)")


def test_a_snooze_wakes_on_time_across_a_restart_and_at_once_on_a_customer_reply(
    desk: Desk, db_url: str
) -> None:
    _customer(desk, "q@customer.test")
    (note,) = desk.mail_to("bob@desk.test", 1)
    _answer(desk, note, "#assign me\n#snooze 2d", "b1@desk.test")
    desk.settle()
    assert desk.ticket()["snoozed_until"]
    desk.echo.stop()
    _sql(db_url, "UPDATE tickets SET snoozed_until = created_at")  # two days went by
    desk.echo.start()
    _until(lambda: _told(desk, "bob@desk.test", "Snooze over on TKT-0001"), what="the wake-up")
    _until(lambda: not desk.ticket()["snoozed_until"], what="awake")
    time.sleep(2)
    assert len(_told(desk, "bob@desk.test", "Snooze over on TKT-0001")) == 1

    _answer(desk, note, "#snooze monday 9:00", "b2@desk.test")
    _until(lambda: bool(desk.ticket()["snoozed_until"]), what="asleep again")
    _customer(desk, "q2@customer.test", reply_to="q@customer.test")
    _until(lambda: not desk.ticket()["snoozed_until"], what="woken by the customer")


def _second_process(tmp_path: Path, db_url: str, relay: RecordingRelay, **env: str) -> EchoProcess:
    """Another ``echodesk serve`` on the same database (another machine: its own folder)."""
    home = tmp_path / "second"
    home.mkdir()
    relay_env = json.dumps(relay.settings())
    return EchoProcess(home, db_url, ECHODESK_RELAY=relay_env, **FAST, **env).start()


def test_reminders_and_sla_notices_go_out_once_with_two_processes(
    tmp_path: Path, db_url: str
) -> None:
    policy = '[{"name": "fast", "first_response": "1m", "hours": "calendar"}]'
    with live_desk(tmp_path, db_url, ECHODESK_SLA=policy, **FAST) as desk:
        other = _second_process(tmp_path, db_url, desk.relay, ECHODESK_SLA=policy)
        try:
            # Written 50 s ago: the warning (48 s) is due at once, the breach (60 s) soon.
            _customer(desk, "q@customer.test", when=datetime.now(UTC) - timedelta(seconds=50))
            note = desk.mail_to("bob@desk.test", 1)[0]  # the warning may follow at once
            _answer(desk, note, "#remind 2d call Alice back", "b1@desk.test")
            desk.settle()
            _sql(db_url, "UPDATE reminders SET due_at = created_at")
            _until(lambda: _told(desk, "bob@desk.test", "call Alice back"), what="the reminder")
            _until(
                lambda: _told(desk, "eve@desk.test", "SLA breached on TKT-0001"),
                timeout=90,
                what="the breach notice",
            )
            time.sleep(3)  # both schedulers have run again meanwhile
        finally:
            other.stop()
        assert len(_told(desk, "bob@desk.test", "Reminder on TKT-0001")) == 1
        for agent in ("bob@desk.test", "eve@desk.test"):
            assert len(_told(desk, agent, "SLA warning on TKT-0001")) == 1
            assert len(_told(desk, agent, "SLA breached on TKT-0001")) == 1
        assert "SLA breached" in _cli(desk, "show", "TKT-0001").stdout


def test_sla_clocks_stop_while_pending_and_go_on_when_the_customer_writes(
    tmp_path: Path, db_url: str
) -> None:
    policy = '[{"name": "day", "resolution": "1d", "hours": "calendar"}]'
    with live_desk(tmp_path, db_url, ECHODESK_SLA=policy, **FAST) as desk:
        _customer(desk, "q@customer.test", when=datetime.now(UTC))  # a day to go
        (note,) = desk.mail_to("bob@desk.test", 1)
        desk.settle()
        assert desk.ticket()["sla"]["target"] == "resolution"  # type: ignore[index]
        _answer(desk, note, "Could you send a photo?", "b1@desk.test")
        _until(lambda: desk.ticket()["status"] == "pending", what="pending")
        assert desk.ticket()["sla"]["due"] is None  # type: ignore[index]
        assert "TKT-0001" not in _cli(desk, "search", "sla:due<2d").stdout
        _customer(desk, "q2@customer.test", reply_to="q@customer.test")
        _until(lambda: desk.ticket()["status"] == "open", what="open again")
        assert desk.ticket()["sla"]["due"] is not None  # type: ignore[index]
        assert "TKT-0001" in _cli(desk, "search", "sla:due<2d").stdout


def test_echodesk_do_acts_as_a_reply_would_and_catch_up_tells_a_new_agent(
    tmp_path: Path, db_url: str
) -> None:
    with RecordingRelay() as relay:
        echo = EchoProcess(tmp_path, db_url, ECHODESK_RELAY=json.dumps(relay.settings()), **FAST)
        echo.start()
        desk = Desk(echo, relay)
        try:
            _customer(desk, "q@customer.test")  # before any agent exists
            echo.wait_for_tickets(1)
            added = _cli(desk, "agents", "add", "bob@desk.test", "--name", "Bob", "--catch-up")
            assert added.returncode == 0 and "notified of 1 ticket(s)" in added.stdout
            (note,) = desk.mail_to("bob@desk.test", 1)
            assert "[TKT-0001] Printer on fire" in str(note["Subject"])
            _cli(desk, "agents", "add", "eve@desk.test", "--name", "Eve")
            done = _cli(desk, "do", "TKT-0001", "--as", "eve@desk.test", "#assign bob", "#pending")
            assert done.returncode == 0, done.stderr
            ticket = desk.ticket()
            assert (ticket["assignee"], ticket["status"]) == ("bob@desk.test", "pending")
            _until(lambda: _told(desk, "bob@desk.test", "Assigned on TKT-0001"), what="notice")
            refused = _cli(desk, "do", "TKT-0001", "--as", "eve@desk.test", "#status done")
            assert refused.returncode != 0 and "#status done" in refused.stderr
            assert desk.ticket()["status"] == "pending"
        finally:
            echo.stop()
