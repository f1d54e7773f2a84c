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
