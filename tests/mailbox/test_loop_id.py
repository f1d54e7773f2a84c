"""The loop header names one installation: only its own id makes mail a loop."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from echodesk.desk.tokens import installation_id
from echodesk.mailbox.classify import Kind, classify, loop_id, loop_marker
from echodesk.mailbox.compose import OutgoingMail, compose
from echodesk.mailbox.message import Address
from echodesk.mailbox.parse import parse_message
from tests.support.mail import make_mail

OURS = installation_id(b"our secret")
THEIRS = installation_id(b"another company's secret")


def _kind(headers: dict[str, str], sender: str = "Carol <carol@other.test>") -> Kind:
    raw = make_mail(sender=sender, headers=headers)
    return classify(parse_message(raw), ("support@desk.test",), OURS).kind


def test_the_id_is_derived_from_the_secret_and_differs_between_installations() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", OURS)
    assert installation_id(b"our secret") == OURS  # every process of one desk agrees
    assert OURS != THEIRS


def test_the_marker_carries_the_id_and_the_old_domain_value_carries_none() -> None:
    marker = loop_marker(OURS, "desk.test")
    assert marker == f"{OURS}.desk.test"
    assert loop_id(marker) == OURS
    assert loop_id(f"  {marker.upper()} ") == OURS  # header case and blanks do not matter
    assert loop_id(OURS) == OURS
    # The value written before ids existed (the outgoing domain) names no installation.
    assert loop_id("desk.test") == ""
    assert loop_id("") == ""
    assert loop_id("not-an-id.desk.test") == ""


def test_only_this_installations_id_is_a_loop() -> None:
    assert _kind({"X-Echodesk-Loop": loop_marker(OURS, "desk.test")}) is Kind.LOOP
    assert _kind({"X-Echodesk-Loop": loop_marker(THEIRS, "other.test")}) is Kind.CUSTOMER
    # The old format (a domain, even ours) proves nothing: anyone can write it.
    assert _kind({"X-Echodesk-Loop": "desk.test"}) is Kind.CUSTOMER
    assert _kind({"X-Echodesk-Loop": "other.test"}) is Kind.CUSTOMER


def test_another_installations_auto_reply_is_still_an_auto_reply() -> None:
    foreign = {"X-Echodesk-Loop": loop_marker(THEIRS, "other.test")}
    assert _kind({**foreign, "Auto-Submitted": "auto-replied"}) is Kind.AUTO_REPLY
    assert _kind({**foreign, "Auto-Submitted": "auto-generated"}) is Kind.AUTO_REPLY
    assert _kind({**foreign, "Precedence": "bulk"}) is Kind.AUTO_REPLY


def test_our_own_address_is_still_a_loop_whatever_the_header_says() -> None:
    foreign = {"X-Echodesk-Loop": loop_marker(THEIRS, "other.test")}
    assert _kind(foreign, sender="Support <support@desk.test>") is Kind.LOOP


def test_a_message_echo_composed_comes_back_as_a_loop_only_here() -> None:
    mail = OutgoingMail(
        from_=Address("Desk", "help@desk.test"),
        to=(Address("Alice", "alice@customer.test"),),
        subject="Re: Printer on fire [TKT-0001]",
        text="We are on it.\n",
        message_id="echo.1@desk.test",
        date=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        loop_marker=loop_marker(OURS, "desk.test"),
    )
    came_back = parse_message(compose(mail))
    assert came_back.header("x-echodesk-loop") == f"{OURS}.desk.test"
    assert classify(came_back, (), OURS).kind is Kind.LOOP
    assert classify(came_back, (), THEIRS).kind is Kind.CUSTOMER
