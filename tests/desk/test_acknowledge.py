"""The acknowledgement of a new ticket, and every case in which it must not be sent."""

from __future__ import annotations

from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.store.models import AuditLog
from tests.support.desk import Desk
from tests.support.mail import make_mail

TEMPLATE = 'Hello $name, we received "$subject" as $ticket. We answer within a day.'


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", acknowledgement=TEMPLATE, acknowledgement_limit=3)
    try:
        yield d
    finally:
        d.close()


def _acks(desk: Desk) -> list[dict[str, object]]:
    return [r for r in desk.outbox() if r["purpose"] == "ack"]


def _skips(desk: Desk) -> list[str]:
    with desk.db.reading() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == "mail.acknowledge.skipped")
        )
        return [str(r.payload["reason"]) for r in rows]


def test_a_new_ticket_is_acknowledged_once_with_auto_submitted(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    desk.deliver(
        make_mail(message_id="m2@customer.test", in_reply_to="m1@customer.test", minutes=3)
    )
    assert len(_acks(desk)) == 1  # the customer's follow-up gets none
    desk.send_outbox()
    (sent,) = list((desk.settings.data_dir / "outbox").glob("*.eml"))
    msg = BytesParser(policy=policy.default).parsebytes(sent.read_bytes())
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Subject"] == "Re: Printer on fire [TKT-0001]"
    assert msg["In-Reply-To"] == "<m1@customer.test>"
    body = msg.get_body(("plain",))
    assert body is not None
    text = str(body.get_content()).strip()
    assert text == (
        'Hello Alice Customer, we received "Printer on fire" as TKT-0001. We answer within a day.'
    )
    # The customer's answer to the acknowledgement threads into the ticket.
    answer = make_mail(
        message_id="m3@customer.test",
        subject=str(msg["Subject"]),
        in_reply_to=str(msg["Message-ID"]).strip("<>"),
        minutes=9,
    )
    assert desk.deliver(answer).ticket_number == 1


def test_mailing_list_mail_opens_a_ticket_but_is_not_acknowledged(desk: Desk) -> None:
    outcome = desk.deliver(
        make_mail(
            message_id="list1@lists.test",
            sender="announce@lists.test",
            headers={"List-Id": "<announce.lists.test>", "List-Unsubscribe": "<mailto:u@x>"},
        )
    )
    assert outcome.created_ticket
    assert _acks(desk) == []
    assert _skips(desk) == ["mailing-list mail (list-id)"]


def test_auto_replies_bounces_and_echos_own_mail_get_nothing(desk: Desk) -> None:
    ooo = make_mail(message_id="ooo@customer.test", headers={"Auto-Submitted": "auto-replied"})
    own = make_mail(message_id="own@desk.test", sender="Support <support@desk.test>")
    bulk = make_mail(message_id="bulk@news.test", headers={"Precedence": "bulk"})
    for raw in (ooo, own, bulk):
        outcome = desk.deliver(raw)
        assert not outcome.created_ticket
    assert desk.tickets() == [] and desk.outbox() == []


def test_at_most_the_limit_per_address_in_a_day(desk: Desk) -> None:
    for n in range(5):
        desk.deliver(make_mail(message_id=f"new{n}@customer.test", subject=f"Question {n}"))
    assert len(desk.tickets()) == 5
    assert len(_acks(desk)) == 3
    assert _skips(desk) == ["rate-limited", "rate-limited"]
    # Another address is not held back by alice's count.
    desk.deliver(make_mail(message_id="b1@other.test", sender="bob@other.test"))
    assert len(_acks(desk)) == 4


def test_no_acknowledgement_unless_configured(db_url: str, tmp_path: Path) -> None:
    d = Desk(db_url, tmp_path / "data")
    try:
        d.deliver(make_mail(message_id="m1@customer.test"))
        assert d.outbox() == []
    finally:
        d.close()
