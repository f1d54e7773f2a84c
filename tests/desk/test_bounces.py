"""Bounces of mail Echo sent: matched, acted on once, never answered, never a ticket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.store.models import AuditLog, Customer
from tests.support.desk import Desk
from tests.support.mail import make_dsn, make_mail


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", acknowledgement="We got it: $ticket.")
    d.add_agent()
    try:
        yield d
    finally:
        d.close()


def _sent_reply(desk: Desk) -> dict[str, object]:
    """A ticket from alice, Echo's reply to her written out; that reply's outbox row."""
    desk.deliver(make_mail(message_id="m1@customer.test"))
    desk.reply(1, "We are on it.\n")
    desk.send_outbox()
    return next(r for r in desk.outbox() if r["purpose"] == "reply")


def _customer(desk: Desk, email: str) -> Customer | None:
    with desk.db.reading() as session:
        return session.scalars(select(Customer).where(Customer.email == email)).first()


def _actions(desk: Desk) -> list[str]:
    with desk.db.reading() as session:
        return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_a_hard_bounce_to_the_verp_address_stops_mail_to_that_customer(desk: Desk) -> None:
    row = _sent_reply(desk)
    desk.reply(1, "A second reply, queued before the bounce comes back.\n")
    queued = next(r for r in desk.outbox() if r["state"] == "queued")
    verp = str(row["mail_from"])
    outcome = desk.deliver(make_dsn(failed="alice@customer.test", to=verp), rcpt_to=(verp,))
    assert outcome.kind == "bounce" and outcome.state == "processed"
    assert not outcome.created_ticket and not outcome.appended
    assert outcome.ticket_number == 1  # the spool row says which ticket it was about
    assert len(desk.tickets()) == 1  # a bounce never opens a ticket
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is not None
    assert "5.1.1" in customer.bounce_detail
    rows = {r["id"]: r for r in desk.outbox()}
    assert (rows[row["id"]]["state"], rows[row["id"]]["reason"]) == ("failed", "bounced")
    assert (rows[queued["id"]]["state"], rows[queued["id"]]["reason"]) == (
        "suppressed",
        "bounced-recipient",
    )
    notes = [m for m in desk.ticket(1)["messages"] if m["direction"] == "internal"]
    assert len(notes) == 1 and notes[0]["kind"] == "bounce"
    assert "alice@customer.test" in notes[0]["body_text"] and "5.1.1" in notes[0]["body_text"]
    assert "mail.bounce" in _actions(desk)
    # Later replies are kept on the ticket but never sent to the dead address.
    posted = desk.reply(1, "Are you still there?\n")
    assert posted.suppressed == ("alice@customer.test",)
    sent = desk.send_outbox()
    assert "alice@customer.test" not in [d.rcpt for d in sent]
    # The agent was told, by a notification that carries the note.
    told = [
        r for r in desk.outbox() if r["purpose"] == "notification" and r["rcpt"] == "bob@desk.test"
    ]
    assert len(told) == 2  # the new ticket, then the bounce
    # The bounce was not answered: nothing at all was queued to the mailer daemon.
    assert not [r for r in desk.outbox() if "mailer-daemon" in str(r["rcpt"]).lower()]


def test_a_delay_notice_is_recorded_only(desk: Desk) -> None:
    row = _sent_reply(desk)
    verp = str(row["mail_from"])
    dsn = make_dsn(
        failed="alice@customer.test",
        status="4.2.2",
        diagnostic="smtp; 452 4.2.2 mailbox full",
        to=verp,
    )
    outcome = desk.deliver(dsn, rcpt_to=(verp,))
    assert outcome.kind == "bounce" and "temporary" in outcome.reason
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is None
    assert row["id"] in [r["id"] for r in desk.outbox(state="sent")]
    assert "mail.bounce.temporary" in _actions(desk)
    kinds = [(m["direction"], m["kind"]) for m in desk.ticket(1)["messages"]]
    assert kinds == [("inbound", "customer"), ("outbound", "ack"), ("outbound", "reply")]


def test_a_bounce_without_verp_is_matched_by_the_returned_original(desk: Desk) -> None:
    _sent_reply(desk)
    files = (desk.settings.data_dir / "outbox").glob("*.eml")
    original = next(
        data for p in files if b"X-Envelope-To: <alice@customer.test>" in (data := p.read_bytes())
    )
    dsn = make_dsn(failed="alice@customer.test", original=original, message_id="dsn2@mx")
    outcome = desk.deliver(dsn)  # to the plain support address, as some servers do
    assert outcome.kind == "bounce" and outcome.ticket_number == 1
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is not None


def test_a_bounce_about_mail_echo_never_sent_changes_nothing(desk: Desk) -> None:
    _sent_reply(desk)
    forged = make_mail(
        message_id="never-sent@desk.test", sender="support@desk.test", to="alice@customer.test"
    )
    dsn = make_dsn(failed="alice@customer.test", original=forged, message_id="dsn3@mx")
    outcome = desk.deliver(dsn)
    assert outcome.kind == "bounce" and outcome.ticket_id is None
    assert "did not send" in outcome.reason
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is None
    # A forged VERP address is no better.
    row = desk.outbox()[0]
    fake = f"bounces+{row['id']}-aaaaaaaaaaaa@desk.test"
    outcome = desk.deliver(
        make_dsn(failed="alice@customer.test", to=fake, message_id="dsn4@mx"), rcpt_to=(fake,)
    )
    assert outcome.kind == "bounce" and outcome.ticket_id is None
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is None
    assert len(desk.tickets()) == 1


def _feedback_report(original: bytes, feedback_type: str = "abuse") -> bytes:
    """An ARF report (RFC 5965) from a provider's feedback loop, enclosing ``original``."""
    head = (
        "From: Feedback Loop <fbl@isp.example>\r\nTo: support@desk.test\r\n"
        "Subject: Abuse Report\r\nMessage-ID: <fbl-1@isp.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="fb"\r\n\r\n'
    )
    parts = (
        "--fb\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--fb\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\nUser-Agent: ISP-FBL/2.0\r\nVersion: 1\r\n\r\n"
        "--fb\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    return (head + parts).encode() + original + b"\r\n--fb--\r\n"


def _delivered_original(desk: Desk, row: dict[str, object]) -> bytes:
    """Echo's reply as the complainant's provider stored it (with its Return-Path)."""
    files = (desk.settings.data_dir / "outbox").glob("*.eml")
    original = next(
        data for p in files if b"X-Envelope-To: <alice@customer.test>" in (data := p.read_bytes())
    )
    return f"Return-Path: <{row['mail_from']}>\r\n".encode() + original


def test_a_complaint_silences_the_customer_and_keeps_the_row_sent(desk: Desk) -> None:
    row = _sent_reply(desk)
    desk.reply(1, "A second reply, queued before the complaint comes back.\n")
    queued = next(r for r in desk.outbox() if r["state"] == "queued")
    outcome = desk.deliver(_feedback_report(_delivered_original(desk, row)))
    assert outcome.kind == "complaint" and outcome.state == "processed"
    assert not outcome.created_ticket and outcome.ticket_number == 1
    assert len(desk.tickets()) == 1  # a complaint never opens a ticket
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is not None
    assert customer.bounce_detail.startswith("complaint: abuse")
    rows = {r["id"]: r for r in desk.outbox()}
    assert rows[row["id"]]["state"] == "sent"  # it was delivered
    assert (rows[queued["id"]]["state"], rows[queued["id"]]["reason"]) == (
        "suppressed",
        "complained-recipient",
    )
    notes = [m for m in desk.ticket(1)["messages"] if m["direction"] == "internal"]
    assert len(notes) == 1 and notes[0]["kind"] == "complaint"
    assert "alice@customer.test" in notes[0]["body_text"] and "abuse" in notes[0]["body_text"]
    assert "mail.complaint" in _actions(desk)
    assert desk.reply(1, "Still there?\n").suppressed == ("alice@customer.test",)
    assert not [r for r in desk.outbox() if "isp.example" in str(r["rcpt"])]  # never answered


def test_a_not_spam_report_or_one_about_other_mail_silences_nobody(desk: Desk) -> None:
    row = _sent_reply(desk)
    outcome = desk.deliver(_feedback_report(_delivered_original(desk, row), "not-spam"))
    assert outcome.kind == "complaint" and "no complaint" in outcome.reason
    forged = (
        b"Return-Path: <someone@elsewhere.example>\r\nMessage-ID: <never-sent@desk.test>\r\n"
        b"From: support@desk.test\r\nTo: alice@customer.test\r\nSubject: hi\r\n\r\nhi\r\n"
    )
    outcome = desk.deliver(_feedback_report(forged).replace(b"fbl-1@", b"fbl-2@"))
    assert outcome.kind == "complaint" and "did not send" in outcome.reason
    customer = _customer(desk, "alice@customer.test")
    assert customer is not None and customer.bounced_at is None
    assert "mail.complaint.unmatched" in _actions(desk)
