"""Replies reach the customer through a real SMTP relay, thread, and are retried.

Echo's sender talks SMTP to a real aiosmtpd relay (tests/support/relay.py)
that records what it gets and can be told to answer 451 or 550; the mail it
records is parsed back with the stdlib, as the customer's client would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest

from echodesk.config import RelaySettings
from echodesk.mailbox.message import AttachmentPart
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.relay import RecordingRelay


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    # Notifications to agents have tests of their own: here only customer mail goes out.
    d = Desk(db_url, tmp_path / "data", notify_unassigned=("nobody-watches@desk.test",))
    d.add_agent()
    try:
        yield d
    finally:
        d.close()


def _use_relay(desk: Desk, relay: RecordingRelay, **more: object) -> None:
    desk.reconfigure(relay=RelaySettings(host="127.0.0.1", port=relay.port), **more)


def _conversation(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test", cc="Carol <carol@partner.test>"))
    desk.deliver(
        make_mail(
            message_id="m2@customer.test",
            subject="Re: Printer on fire",
            body="It is still burning.\n",
            in_reply_to="m1@customer.test",
            references=["m1@customer.test"],
            minutes=5,
        )
    )


def _text(part: EmailMessage) -> str:
    """A text part as a mail client shows it (line endings as the platform has them)."""
    return str(part.get_content()).replace("\r\n", "\n")


def _ids(value: str) -> list[str]:
    return [part.strip("<>") for part in value.split()]


def test_a_reply_reaches_the_relay_with_headers_that_thread(desk: Desk) -> None:
    _conversation(desk)
    with RecordingRelay() as relay:
        _use_relay(desk, relay)
        pdf = AttachmentPart("Angebot für Zoë.pdf", "application/pdf", b"%PDF-1.4 fake")
        posted = desk.reply(1, "Hallo Alice,\n\nwir kümmern uns darum.\n", attachments=(pdf,))
        deliveries = desk.send_outbox()
        got = relay.wait_for(2)
    assert sorted(d.event for d in deliveries) == ["sent", "sent"]
    assert sorted(r.rcpt for r in got) == [("alice@customer.test",), ("carol@partner.test",)]
    rows = {r["rcpt"]: r for r in desk.outbox()}
    for item in got:
        row = rows[item.rcpt[0]]
        assert item.mail_from == row["mail_from"]
        assert desk.ctx.addresses.outbox_of(item.mail_from) == row["id"]  # VERP names the row
        assert item.mail_from.startswith(f"bounces+{row['id']}-")
    msg = got[0].message()
    assert msg["From"] == "Support <support@desk.test>"
    assert getaddresses([msg["To"]]) == [("Alice Customer", "alice@customer.test")]
    assert getaddresses([msg["Cc"]]) == [("", "carol@partner.test")]
    reply_to = getaddresses([msg["Reply-To"]])[0][1]
    ticket_id = desk.ctx.addresses.ticket_of(reply_to)
    assert ticket_id is not None and reply_to.startswith("support+t-")
    assert msg["Subject"] == "Re: Printer on fire [TKT-0001]"
    assert msg["Message-ID"] == f"<{posted.message_id}>"
    assert posted.message_id.endswith("@desk.test")
    assert msg["In-Reply-To"] == "<m2@customer.test>"
    assert _ids(msg["References"]) == ["m1@customer.test", "m2@customer.test"]
    assert abs(time.time() - parsedate_to_datetime(msg["Date"]).timestamp()) < 120
    assert msg["Auto-Submitted"] is None  # a person wrote it
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert body is not None and html is not None
    assert _text(body) == "Hallo Alice,\n\nwir kümmern uns darum.\n"
    assert "wir kümmern uns darum." in html.get_content()
    files = [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]
    assert files == [("Angebot für Zoë.pdf", b"%PDF-1.4 fake")]
    ticket = desk.ticket(1)
    assert ticket["status"] == "pending"
    sent = [m for m in ticket["messages"] if m["direction"] == "outbound"]
    assert [m["message_id"] for m in sent] == [posted.message_id]


def _gmail_answer(reply: EmailMessage, body: str, message_id: str) -> bytes:
    """How Gmail answers a message: quote it, thread on it, write to its Reply-To."""
    plain = reply.get_body(("plain",))
    assert plain is not None
    quoted = "\n".join(f"> {line}" for line in _text(plain).splitlines())
    raw = EmailMessage()
    raw["From"] = "Alice Customer <alice@customer.test>"
    raw["To"] = reply["Reply-To"]
    raw["Subject"] = f"Re: {reply['Subject']}"
    raw["Message-ID"] = f"<{message_id}>"
    raw["In-Reply-To"] = reply["Message-ID"]
    raw["References"] = f"{reply['References']} {reply['Message-ID']}"
    raw["Date"] = "Mon, 02 Nov 2026 11:00:00 +0000"
    attribution = "On Mon, 2 Nov 2026 at 10:30, Support <support@desk.test> wrote:"
    raw.set_content(f"{body}\n\n{attribution}\n{quoted}\n")
    return raw.as_bytes(policy=policy.SMTP)


def test_the_customers_answer_to_the_reply_joins_the_ticket(desk: Desk) -> None:
    _conversation(desk)
    with RecordingRelay() as relay:
        _use_relay(desk, relay)
        desk.reply(1, "Please unplug it.\n")
        desk.send_outbox()
        reply = relay.wait_for(1)[0].message()
    answer = _gmail_answer(reply, "Done, thanks!", "m3@customer.test")
    to = getaddresses([reply["Reply-To"]])[0][1]
    outcome = desk.deliver(answer, rcpt_to=(to,))
    assert outcome.ticket_number == 1 and not outcome.created_ticket
    ticket = desk.ticket(1)
    assert ticket["status"] == "open"  # the customer's reply reopens the pending ticket
    last = ticket["messages"][-1]
    assert last["trimmed_text"] == "Done, thanks!"
    assert last["thread_reason"] == "signed reply address"
    # Outlook with every threading header dropped and a German prefix: the signed
    # Reply-To address alone still finds the ticket.
    bare = make_mail(
        message_id="m4@customer.test", subject="AW: Drucker", to=to, body="Noch eine Frage.\n"
    )
    assert desk.deliver(bare, rcpt_to=(to,)).ticket_number == 1
    # Only headers, delivered to the plain address: In-Reply-To names Echo's reply.
    plain = make_mail(
        message_id="m5@customer.test",
        subject="Re: something else",
        in_reply_to=reply["Message-ID"].strip("<>"),
    )
    assert desk.deliver(plain).ticket_number == 1


def test_a_forged_or_foreign_reply_address_opens_a_new_ticket(desk: Desk) -> None:
    _conversation(desk)
    reply_to = desk.ctx.addresses.reply_address(1)
    forged = reply_to[: reply_to.rindex("-") + 1] + "aaaaaaaaaaaa@desk.test"
    outcome = desk.deliver(
        make_mail(message_id="x1@evil.test", sender="mallory@evil.test", to=forged),
        rcpt_to=(forged,),
    )
    assert outcome.created_ticket and outcome.ticket_number == 2


def test_451_twice_then_250_delivers_exactly_once(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    with RecordingRelay(answers=["451 4.3.0 try later", "451 4.3.0 try later"]) as relay:
        _use_relay(desk, relay, outbox_retry_seconds=1)
        desk.reply(1, "Retry me.\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            desk.send_outbox()
            if desk.outbox()[0]["state"] == "sent":
                break
            time.sleep(0.2)
        desk.send_outbox()
        time.sleep(1.5)
        desk.send_outbox()  # nothing more is due once it has been sent
        got = relay.received
        attempts = relay.attempts
    row = desk.outbox()[0]
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 3, "")
    assert attempts == 3
    assert [r.rcpt for r in got] == [("alice@customer.test",)]


def test_550_fails_at_once_without_retrying(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    with RecordingRelay(answers=["550 5.1.1 no such user"]) as relay:
        _use_relay(desk, relay, outbox_retry_seconds=1)
        desk.reply(1, "Hello?\n")
        first = desk.send_outbox()
        time.sleep(1.5)
        again = desk.send_outbox()
        assert relay.attempts == 1 and relay.received == []
    assert [d.event for d in first] == ["rejected"] and again == []
    row = desk.outbox()[0]
    assert (row["state"], row["reason"], row["attempts"]) == ("failed", "rejected", 1)
    assert row["last_error"].startswith("550 5.1.1")


def test_an_unreachable_relay_is_retried_then_given_up(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    dead = RelaySettings(host="127.0.0.1", port=free_port())  # nothing listens there
    desk.reconfigure(relay=dead, outbox_retry_seconds=1, outbox_max_attempts=2)
    desk.reply(1, "Anyone there?\n")
    assert [d.event for d in desk.send_outbox()] == ["deferred"]
    assert desk.outbox()[0]["state"] == "queued"
    time.sleep(1.2)
    assert [d.event for d in desk.send_outbox()] == ["exhausted"]
    row = desk.outbox()[0]
    assert (row["state"], row["reason"]) == ("failed", "gave-up")
    assert "Connection refused" in row["last_error"] or "ConnectionRefused" in row["last_error"]


def test_without_a_relay_mail_is_written_as_eml_files_a_client_opens(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test", subject="Grüße aus Köln"))
    posted = desk.reply(1, "Schöne Grüße zurück.\n")
    assert [d.event for d in desk.send_outbox()] == ["sent"]
    files = sorted((desk.settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert msg["Message-ID"] == f"<{posted.message_id}>"
    assert msg["Subject"] == "Re: Grüße aus Köln [TKT-0001]"
    assert msg["X-Envelope-To"] == "<alice@customer.test>"
    assert msg["Return-Path"].startswith("<bounces+")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and _text(body) == "Schöne Grüße zurück.\n"
    assert not list((desk.settings.data_dir / "outbox").glob(".*.tmp"))


def test_an_empty_reply_is_refused_and_a_note_is_never_sent(desk: Desk) -> None:
    from echodesk.errors import CommandError

    desk.deliver(make_mail(message_id="m1@customer.test"))
    with pytest.raises(CommandError, match="empty"):
        desk.reply(1, "\n  \n")
    desk.note(1, "Customer called, printer is a fire hazard.")
    assert desk.outbox() == []
    assert desk.send_outbox() == []
    ticket = desk.ticket(1)
    assert [m["direction"] for m in ticket["messages"]] == ["inbound", "internal"]
    assert ticket["status"] == "open"


def test_a_reply_from_someone_who_is_not_an_agent_is_refused(desk: Desk) -> None:
    from echodesk.errors import NotFoundError

    desk.deliver(make_mail(message_id="m1@customer.test"))
    with pytest.raises(NotFoundError, match="not an active agent"):
        desk.reply(1, "Hi", agent="mallory@evil.test")
    assert desk.outbox() == []
