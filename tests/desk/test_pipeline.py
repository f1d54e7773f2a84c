"""What the pipeline writes for one message: customer, ticket, message, files, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import select

from echodesk.store.models import Attachment, AuditLog, Customer
from tests.support.desk import Desk
from tests.support.mail import make_mail


def _with_attachment(message_id: str, data: bytes, sender: str = "bob@customer.test") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Invoice"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("See the attached invoice.\n")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes(policy=SMTP)


def test_attachments_are_stored_once_by_content(desk: Desk) -> None:
    pdf = b"%PDF-1.4 fake invoice " + bytes(range(256)) * 4
    desk.deliver(_with_attachment("a1@customer.test", pdf))
    desk.deliver(_with_attachment("a2@customer.test", pdf, sender="carol@customer.test"))
    shown = desk.ticket(1)["messages"][0]["attachments"]
    assert len(shown) == 1
    assert shown[0]["filename"] == "invoice.pdf" and shown[0]["size"] == len(pdf)
    with desk.db.reading() as session:
        rows = session.scalars(select(Attachment)).all()
    assert len(rows) == 2 and rows[0].storage_key == rows[1].storage_key == rows[0].sha256
    assert desk.ctx.blobs.get(rows[0].storage_key) == pdf
    assert list(desk.ctx.blobs.keys()) == [rows[0].storage_key]  # one copy, in any store


def test_customer_is_upserted_by_lower_cased_address(desk: Desk) -> None:
    desk.deliver(make_mail(sender="Alice@Customer.TEST", message_id="c1@customer.test"))
    desk.deliver(
        make_mail(
            sender="Alice Smith <alice@customer.test>",
            subject="Again",
            message_id="c2@customer.test",
        )
    )
    with desk.db.reading() as session:
        people = session.scalars(select(Customer)).all()
    assert [(c.email, c.display_name) for c in people] == [("alice@customer.test", "Alice Smith")]
    # Seen times come from the mail's Date (imports of old mail keep their history).
    assert people[0].first_seen_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert people[0].last_seen_at == people[0].first_seen_at
    assert [t["customer"] for t in desk.tickets()] == ["alice@customer.test"] * 2


def test_every_change_is_audited_with_the_threading_reason(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="root@customer.test"))
    desk.deliver(
        make_mail(
            subject="Re: x",
            message_id="r@customer.test",
            in_reply_to="root@customer.test",
            minutes=1,
        )
    )
    with desk.db.reading() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [r.action for r in rows] == ["tickets.create", "messages.inbound", "messages.inbound"]
    assert rows[2].payload["thread_reason"] == "In-Reply-To <root@customer.test>"
    assert rows[1].actor == "alice@customer.test"
    assert all(r.ticket_id is not None for r in rows)


def test_quoted_history_is_trimmed_but_kept(desk: Desk) -> None:
    body = (
        "Thanks, that fixed it.\n\nOn Mon, 2 Nov 2026 at 09:00, Support <support@desk.test>"
        " wrote:\n> Please restart the printer.\n> \n> Regards\n"
    )
    desk.deliver(make_mail(body=body))
    message = desk.ticket(1)["messages"][0]
    assert message["trimmed_text"] == "Thanks, that fixed it."
    assert message["body_text"].startswith("Thanks, that fixed it.")
    assert "> Please restart the printer." in message["body_text"]


def test_a_message_without_a_message_id_gets_a_stable_one(desk: Desk) -> None:
    raw = make_mail(message_id=None)
    first = desk.deliver(raw)
    again = desk.deliver(raw)
    assert first.message_id.endswith("@generated.echodesk.invalid")
    assert again.state == "duplicate" and again.message_id == first.message_id


def test_cc_addresses_become_participants_but_echo_itself_does_not(desk: Desk) -> None:
    desk.deliver(make_mail(cc="Bob <bob@customer.test>, support@desk.test, x@desk.test"))
    desk.deliver(
        make_mail(subject="Re: [TKT-0001]", sender="x@desk.test", message_id="x1@desk.test")
    )
    assert desk.tickets()[0]["messages"] == 1  # x@desk.test (our own domain) is no participant
    bob = desk.deliver(
        make_mail(
            subject="Re: [TKT-0001]", sender="bob@customer.test", message_id="b1@customer.test"
        )
    )
    assert bob.ticket_number == 1
