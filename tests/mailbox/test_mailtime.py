"""A message's own time: its Date, clamped by its first relay and its arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from echodesk.mailbox.mailtime import mail_time, oldest_received
from echodesk.mailbox.parse import parse_message
from tests.support.mail import make_mail

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DATE = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def test_a_plain_date_is_the_mails_time() -> None:
    assert mail_time(DATE, None, NOW, NOW) == DATE


def test_a_date_in_the_future_is_the_arrival() -> None:
    arrived = NOW - timedelta(minutes=5)
    assert mail_time(NOW + timedelta(days=400), None, arrived, NOW) == arrived


def test_a_date_before_the_first_relay_took_it_is_a_wrong_clock() -> None:
    relay = DATE + timedelta(days=3)
    assert mail_time(DATE, relay, NOW, NOW) == relay


def test_without_a_date_the_first_relay_then_the_arrival_stand_in() -> None:
    assert mail_time(None, DATE, NOW, NOW) == DATE
    assert mail_time(None, None, NOW - timedelta(hours=1), NOW) == NOW - timedelta(hours=1)
    assert mail_time(None, None, None, NOW) == NOW


def test_a_relay_clock_ahead_of_the_arrival_is_ignored() -> None:
    arrived = NOW - timedelta(hours=2)
    assert mail_time(DATE, NOW + timedelta(days=1), arrived, NOW) == DATE


def test_the_oldest_readable_received_stamp_is_the_first_relay() -> None:
    stamps = [
        "from b.example by c.example; Thu, 01 Oct 2026 10:00:05 +0000",
        "from a.example by b.example with ESMTP id 1;\n Thu, 1 Oct 2026 11:59:00 +0200",
        "from nowhere by a.example; not a date at all",
        "a header without any stamp",
    ]
    assert oldest_received(stamps) == datetime(2026, 10, 1, 9, 59, tzinfo=UTC)
    assert oldest_received(["junk; junk"]) is None


def test_parsing_keeps_the_first_relays_stamp() -> None:
    raw = (
        b"Received: from mx by desk; Fri, 02 Oct 2026 08:00:00 +0000\r\n"
        b"Received: from laptop by mx; Fri, 02 Oct 2026 07:59:58 +0000\r\n" + make_mail()
    )
    msg = parse_message(raw)
    assert msg.first_received == datetime(2026, 10, 2, 7, 59, 58, tzinfo=UTC)
