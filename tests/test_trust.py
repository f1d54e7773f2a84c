"""Forged mail steers nothing: attacks against the real ``echodesk serve``, real DNS.

Echo checks DKIM, SPF and DMARC itself against a real authoritative DNS server
(dnsmasq, tests/support/dnszone.py). 127.0.0.1 stands for the company's mail
server (``smtp_trusted_relays``, whose authserv-id ``mx.desk.test`` is
trusted); 127.0.0.66 is any other host on the internet talking to Echo's SMTP
receiver directly. ``desk.test`` (the agents) and ``good.test`` (a customer)
publish DMARC ``p=reject``; their keys sign what their real users send.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import agent_reply, text_of
from tests.support.dnszone import DnsZone, silent_port
from tests.support.livedesk import Desk, live_desk
from tests.support.mail import make_mail

INTERNET = "127.0.0.66"
MX = "127.0.0.1"


@pytest.fixture
def desk(tmp_path: Path, db_url: str, dns_zone: DnsZone) -> Iterator[Desk]:
    with live_desk(
        tmp_path,
        db_url,
        ECHODESK_VERIFY_MAIL="true",
        ECHODESK_AGENT_AUTH="dmarc",
        ECHODESK_DNS_RESOLVER=dns_zone.server,
        ECHODESK_TRUSTED_AUTHSERV_IDS="mx.desk.test",
        ECHODESK_SMTP_TRUSTED_RELAYS=MX,
        ECHODESK_ACKNOWLEDGEMENT="We received $subject as $ticket.",
    ) as desk:
        yield desk


def _alice_writes(desk: Desk, zone: DnsZone) -> None:
    """Alice (good.test) opens TKT-0001 with genuine, signed mail."""
    raw = make_mail(sender="Alice <alice@good.test>", message_id="m1@good.test")
    desk.smtp(zone.sign(raw, "good.test"), "support@desk.test", "alice@good.test", INTERNET)


def _to(desk: Desk, address: str) -> list[str]:
    return [text_of(r.message()) for r in desk.relay.received if r.rcpt == (address,)]


def test_a_signed_agent_reply_runs_and_a_forged_pass_below_a_real_fail_does_not(
    desk: Desk, dns_zone: DnsZone
) -> None:
    _alice_writes(desk, dns_zone)
    (note,) = desk.mail_to("bob@desk.test", 1)
    # The attack: the agent's real signed address, the trusted host's genuine
    # dkim=fail on top, and a "pass" the sender wrote himself under the same name.
    raw, to = agent_reply(note, "#status closed\n\nPay to IBAN X.", message_id="evil@desk.test")
    genuine = b"Authentication-Results: mx.desk.test; dkim=fail header.d=desk.test\r\n"
    hop = b"Received: from evil.example by mx.desk.test; Mon, 2 Nov 2026 10:36:00 +0000\r\n"
    forged = (
        b"Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test; "
        b"dmarc=pass header.from=desk.test\r\n"
    )
    desk.smtp(genuine + hop + forged + raw, to, "bob@desk.test", MX)
    told = desk.mail_to("bob@desk.test", 2)[-1]
    assert "dkim=fail" in text_of(told)
    desk.settle()
    assert desk.ticket()["status"] == "open"
    assert not any("IBAN" in text for text in _to(desk, "alice@good.test"))
    # Bob's real reply, signed by his domain, is carried out: Echo checked it itself.
    raw, to = agent_reply(note, "#status pending\n\nPlease unplug it.", message_id="ok@desk.test")
    desk.smtp(dns_zone.sign(raw, "desk.test"), to, "bob@desk.test", INTERNET)
    desk.settle()
    assert desk.ticket()["status"] == "pending"
    assert any("Please unplug it." in text for text in _to(desk, "alice@good.test"))


def test_a_signed_address_alone_no_longer_runs_commands(desk: Desk, dns_zone: DnsZone) -> None:
    _alice_writes(desk, dns_zone)
    (note,) = desk.mail_to("bob@desk.test", 1)
    raw, to = agent_reply(note, "#status closed\n\nBye.", message_id="unsigned@desk.test")
    desk.smtp(raw, to, "bob@desk.test", MX)  # no DKIM: Echo finds dmarc=fail for desk.test
    told = desk.mail_to("bob@desk.test", 2)[-1]
    assert "did not act on it" in text_of(told) and "dmarc=fail" in text_of(told)
    desk.settle()
    assert desk.ticket()["status"] == "open"


def test_a_forged_new_cannot_make_echo_write_to_anyone(desk: Desk, dns_zone: DnsZone) -> None:
    forged = make_mail(
        message_id="spam@evil.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Invoice",
        body="#new victim@elsewhere.test\n\nPay to IBAN X.\n",
        headers={
            "Authentication-Results": "mx.desk.test; dkim=pass header.d=desk.test; "
            "dmarc=pass header.from=desk.test"
        },
    )
    desk.smtp(forged, "support@desk.test", "bob@desk.test", INTERNET)
    genuine = make_mail(
        message_id="new@desk.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Your order",
        body="#new carl@customer.test\n\nHello Carl, your order has shipped.\n",
    )
    desk.smtp(dns_zone.sign(genuine, "desk.test"), "support@desk.test", "bob@desk.test", INTERNET)
    desk.settle()
    assert any("your order has shipped" in text for text in _to(desk, "carl@customer.test"))
    assert _to(desk, "victim@elsewhere.test") == []
    tickets = desk.echo.cli("tickets")
    assert [t["customer"] for t in tickets] == ["carl@customer.test"]


def test_a_forged_customer_cannot_join_a_ticket_or_copy_himself_in(
    desk: Desk, dns_zone: DnsZone
) -> None:
    _alice_writes(desk, dns_zone)
    (note,) = desk.mail_to("bob@desk.test", 1)
    forged = make_mail(
        message_id="forged@evil.test",
        sender="Alice <alice@good.test>",
        subject="Re: Printer on fire [TKT-0001]",
        body="Please send the invoice to my colleague too.\n",
        cc="Mallory <mallory@evil.test>",
        headers={"Authentication-Results": "mx.desk.test; dmarc=fail header.from=good.test"},
    )
    desk.smtp(forged, "support@desk.test", "alice@good.test", MX)
    desk.settle()
    tickets = {t["number"]: t for t in desk.echo.cli("tickets")}
    assert sorted(tickets) == ["TKT-0001", "TKT-0002"]  # a ticket of its own, not TKT-0001's
    second = desk.ticket("TKT-0002")
    assert second["messages"][0]["sender_auth"] == "fail"  # type: ignore[index]
    assert desk.ticket()["messages"][0]["sender_auth"] == "pass"  # type: ignore[index]
    warned = desk.mail_to("bob@desk.test", 2)[-1]
    assert "unverified sender" in text_of(warned).lower()
    # Only the genuine mail is acknowledged: answering a forged From mails a stranger.
    acks = [text for text in _to(desk, "alice@good.test") if "We received" in text]
    assert len(acks) == 1 and "TKT-0001" in acks[0]
    raw, to = agent_reply(note, "The invoice is attached.", message_id="inv@desk.test")
    desk.smtp(dns_zone.sign(raw, "desk.test"), to, "bob@desk.test", INTERNET)
    desk.settle()
    assert any("The invoice is attached." in text for text in _to(desk, "alice@good.test"))
    assert _to(desk, "mallory@evil.test") == []


def test_a_dns_server_that_does_not_answer_costs_no_mail(tmp_path: Path, db_url: str) -> None:
    """Every look-up times out: the mail is still accepted and becomes a ticket, its
    checks recorded as temperror, and nothing about it counts as verified."""
    with live_desk(
        tmp_path,
        db_url,
        ECHODESK_VERIFY_MAIL="true",
        ECHODESK_AGENT_AUTH="dmarc",
        ECHODESK_DNS_RESOLVER=f"127.0.0.1:{silent_port()}",
        ECHODESK_DNS_TIMEOUT="0.3",
    ) as desk:
        raw = make_mail(sender="Alice <alice@good.test>", message_id="m1@good.test")
        desk.smtp(raw, "support@desk.test", "alice@good.test", INTERNET)
        desk.settle()
        (message,) = desk.ticket()["messages"]  # type: ignore[misc]
        assert message["sender_auth"] == "none"
        stored = desk.echo.cli("spool")
        assert [row["state"] for row in stored] == ["processed"]
