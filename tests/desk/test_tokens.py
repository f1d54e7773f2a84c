"""Signed reply and bounce addresses, and the installation secret behind them."""

from __future__ import annotations

from echodesk.config import Settings
from echodesk.desk.tokens import Addresses
from echodesk.signing import make_token, read_token


def _addresses(secret: bytes = b"s3cret") -> Addresses:
    settings = Settings(support_address="Support@Desk.test")
    return Addresses.for_settings(settings, secret)


def test_tokens_round_trip_and_refuse_any_change() -> None:
    token = make_token(b"k", "t", "42")
    assert read_token(b"k", token) == ("t", "42")
    assert read_token(b"k", token.upper()) == ("t", "42")  # servers may change the case
    assert read_token(b"other", token) is None
    assert read_token(b"k", token.replace("42", "43")) is None
    assert read_token(b"k", token[:-1]) is None
    for junk in ("", "-", "t-42", "t--x", "x" * 500, "t-42-'; DROP TABLE tickets;--"):
        assert read_token(b"k", junk) is None


def test_reply_and_bounce_addresses_name_what_they_were_made_for() -> None:
    a = _addresses()
    reply = a.reply_address(42)
    assert reply.startswith("support+t-42-") and reply.endswith("@desk.test")
    assert a.ticket_of(reply) == 42
    assert a.ticket_of(f"<{reply.upper()}>") == 42
    assert a.ticket_of(reply.replace("@desk.test", "@elsewhere.test")) is None
    assert a.ticket_of(reply.replace("t-42", "t-41")) is None
    assert a.outbox_of(reply) is None  # a reply address is no bounce address
    verp = a.bounce_address(1234)
    assert verp.startswith("bounces+1234-") and a.outbox_of(verp) == 1234
    assert a.ticket_of(verp) is None
    assert a.is_bounce_address(verp) and a.is_bounce_address("bounces@desk.test")
    assert not a.is_bounce_address("support@desk.test")
    assert _addresses(b"another secret").ticket_of(reply) is None


def test_a_token_verifies_with_any_of_several_secrets() -> None:
    token = make_token(b"old", "t", "42")
    assert read_token([b"new", b"old"], token) == ("t", "42")  # during a rotation's grace
    assert read_token([b"new"], token) is None and read_token([], token) is None
