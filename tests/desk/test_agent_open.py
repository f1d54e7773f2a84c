"""Agents opening tickets by email with #new and #forward."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from tests.support.agent import agent_reply, mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(team: Desk) -> Desk:
    return team


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def test_forward_opens_a_ticket_for_the_original_sender(desk: Desk) -> None:
    body = (
        "#forward\n#tag vip\n\nShe called about this too.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Alice Customer <alice@customer.test>\nDate: Mon, Nov 2, 2026 at 9:00 AM\n"
        "Subject: Printer on fire\nTo: Bob <bob@desk.test>\n\nHello, my printer is on fire.\n"
    )
    raw = make_mail(
        message_id="fwd1@desk.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Fwd: Printer on fire",
        body=body,
    )
    outcome = desk.deliver(raw)
    assert outcome.kind == "agent" and outcome.ticket_number == 1
    ticket = desk.ticket(1)
    assert (ticket["customer"], ticket["subject"], ticket["tags"]) == (
        "alice@customer.test",
        "Printer on fire",
        ["vip"],
    )
    first, note = ticket["messages"]
    assert (first["direction"], first["from"]) == ("inbound", "alice@customer.test")
    assert first["body_text"].strip() == "Hello, my printer is on fire."
    assert (note["direction"], note["body_text"]) == ("internal", "She called about this too.")
    desk.send_outbox()
    assert mails_to(_outbox(desk), "alice@customer.test") == []  # a forward mails nobody
    assert len(notifications(_outbox(desk), "eve@desk.test")) == 1
    assert notifications(_outbox(desk), "bob@desk.test") == []  # his own action
    # The customer's next mail, answering her original thread by subject tag, joins it.
    later = make_mail(message_id="a2@customer.test", subject="Re: Printer on fire [TKT-0001]")
    assert desk.deliver(later).ticket_number == 1


def test_new_keeps_the_text_as_a_draft_until_the_agent_replies_to_the_notification(
    desk: Desk,
) -> None:
    raw = make_mail(
        message_id="new1@desk.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Your order 1234",
        body="#new carl@customer.test\n#assign me\n\nHello Carl, your order has shipped.\n",
    )
    outcome = desk.deliver(raw)
    assert outcome.ticket_number == 1 and "draft" in outcome.reason
    desk.send_outbox()
    assert mails_to(_outbox(desk), "carl@customer.test") == []
    ticket = desk.ticket(1)
    assert (ticket["customer"], ticket["assignee"], ticket["subject"]) == (
        "carl@customer.test",
        "bob@desk.test",
        "Your order 1234",
    )
    (told,) = notifications(_outbox(desk), "bob@desk.test")
    assert "Hello Carl, your order has shipped." in text_of(told)
    answer, to = agent_reply(told, "Hello Carl, your order has shipped.")
    desk.deliver(answer, rcpt_to=(to,))
    desk.send_outbox()
    (sent,) = mails_to(_outbox(desk), "carl@customer.test")
    assert text_of(sent).strip() == "Hello Carl, your order has shipped."
    assert sent["Subject"] == "Re: Your order 1234 [TKT-0001]"


def test_new_is_sent_at_once_when_a_trusted_host_vouches_for_the_agent(desk: Desk) -> None:
    desk.reconfigure(trusted_authserv_ids=("mx.desk.test",))
    raw = make_mail(
        message_id="new2@desk.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Hello",
        body="#new carl@customer.test\n\nHello Carl.\n",
        headers={"Authentication-Results": "mx.desk.test; dkim=pass header.d=desk.test"},
    )
    desk.deliver(raw)
    desk.send_outbox()
    (sent,) = mails_to(_outbox(desk), "carl@customer.test")
    assert text_of(sent).strip() == "Hello Carl."
    # The same header written by anyone else proves nothing.
    forged = make_mail(
        message_id="new3@evil.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Pay now",
        body="#new dave@customer.test\n\nPay to IBAN X.\n",
        headers={"Authentication-Results": "evil.test; dkim=pass header.d=desk.test"},
    )
    desk.deliver(forged)
    desk.send_outbox()
    assert mails_to(_outbox(desk), "dave@customer.test") == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("#new\n\nHi", "#new needs the customer's address"),
        ("#new not-an-address\n\nHi", "#new needs the customer's address"),
        ("#forward\n\nno forward below", "no forwarded message found"),
        ("#new carl@customer.test\n#status bogus\n\nHi", "unknown status 'bogus'"),
    ],
)
def test_a_bad_opening_creates_nothing_and_explains(desk: Desk, body: str, why: str) -> None:
    outcome = desk.deliver(
        make_mail(message_id="bad@desk.test", sender="bob@desk.test", subject="x", body=body)
    )
    assert outcome.ticket_id is None and desk.tickets() == []
    desk.send_outbox()
    (told,) = mails_to(_outbox(desk), "bob@desk.test")
    assert why in text_of(told)


def test_a_forged_new_with_a_failing_dkim_is_refused(desk: Desk) -> None:
    desk.reconfigure(trusted_authserv_ids=("mx.desk.test",))
    raw = make_mail(
        message_id="f@evil.test",
        sender="bob@desk.test",
        subject="x",
        body="#forward\n\n---------- Forwarded message ---------\nFrom: a@b.test\n\nhi\n",
        headers={"Authentication-Results": "mx.desk.test; dkim=fail header.d=desk.test"},
    )
    outcome = desk.deliver(raw)
    assert outcome.kind == "agent-rejected" and desk.tickets() == []


def test_an_attached_forward(desk: Desk) -> None:
    inner = EmailMessage()
    inner["From"] = "Zoë <zoe@customer.test>"
    inner["To"] = "bob@desk.test"
    inner["Subject"] = "Rechnung falsch"
    inner["Message-ID"] = "<orig1@customer.test>"
    inner.set_content("Die Rechnung ist falsch.\n")
    outer = EmailMessage()
    outer["From"] = "Bob <bob@desk.test>"
    outer["To"] = "support@desk.test"
    outer["Subject"] = "Fwd: Rechnung falsch"
    outer["Message-ID"] = "<fwd2@desk.test>"
    outer.set_content("#forward\n")
    outer.add_attachment(inner)
    desk.deliver(outer.as_bytes(policy=SMTP))
    ticket = desk.ticket(1)
    assert ticket["customer"] == "zoe@customer.test"
    assert ticket["messages"][0]["message_id"] == "orig1@customer.test"
    # Zoë's reply to her own original mail threads into the ticket by its Message-ID.
    reply = make_mail(
        message_id="z2@customer.test",
        sender="zoe@customer.test",
        subject="Re: Rechnung falsch",
        in_reply_to="orig1@customer.test",
    )
    assert desk.deliver(reply).ticket_number == 1


def test_a_saved_reply_in_an_opening_is_refused_with_the_reason(desk: Desk, tmp_path: Path) -> None:
    replies = tmp_path / "replies.yaml"
    replies.write_text("thanks: Thank you!\n")
    desk.reconfigure(replies_file=replies)
    body = "#new carl@customer.test\n#reply thanks\n\nHi"
    outcome = desk.deliver(
        make_mail(message_id="reply@desk.test", sender="bob@desk.test", subject="x", body=body)
    )
    assert outcome.ticket_id is None and desk.tickets() == []
    desk.send_outbox()
    (told,) = mails_to(_outbox(desk), "bob@desk.test")
    assert "#reply thanks" in text_of(told) and "open the ticket first" in text_of(told)
