"""The relay signs in with OAuth2 (Microsoft 365's and Gmail's SMTP): a real aiosmtpd
relay that takes mail only after XOAUTH2 or OAUTHBEARER with a token the loopback
provider issued, and refuses everything else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.config import OAuthClient, RelaySettings
from echodesk.store import connectors
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.oauth import USER, Provider
from tests.support.relay import RecordingRelay


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


@pytest.fixture
def relay(provider: Provider) -> Iterator[RecordingRelay]:
    def token_ok(user: str, token: str) -> bool:
        with provider.state.lock:
            return user == USER and provider.state.access.get(token, 0) > time.time()

    with RecordingRelay(token_ok=token_ok) as running:
        yield running


@pytest.fixture
def desk(db_url: str, tmp_path: Path, provider: Provider) -> Iterator[Desk]:
    d = Desk(
        db_url,
        tmp_path / "data",
        notify_unassigned=("nobody-watches@desk.test",),
        oauth=(OAuthClient(**provider.settings()),),
    )
    d.add_agent()
    try:
        yield d
    finally:
        d.close()


def _reply_waiting(desk: Desk, relay: RecordingRelay, sasl: str = "xoauth2") -> None:
    desk.reconfigure(
        relay=RelaySettings(host="127.0.0.1", port=relay.port, user=USER, oauth="desk", sasl=sasl)
    )
    desk.deliver(make_mail(message_id=f"relay-{sasl}@customer.test"))
    desk.reply(1, "The printer is fixed.")


@pytest.mark.parametrize("sasl", ["xoauth2", "oauthbearer"])
def test_the_relay_takes_mail_signed_in_with_a_token(
    sasl: str, desk: Desk, relay: RecordingRelay, provider: Provider
) -> None:
    provider.consent(desk)
    _reply_waiting(desk, relay, sasl)
    (delivery,) = desk.send_outbox()
    assert delivery.event == "sent"
    (mail,) = relay.received
    assert mail.rcpt == ("alice@customer.test",)
    assert relay.logins == [(sasl.upper(), True)]


def test_a_refused_token_is_renewed_once_and_the_mail_goes(
    desk: Desk, relay: RecordingRelay, provider: Provider
) -> None:
    provider.consent(desk)
    provider.expire_access_tokens()
    _reply_waiting(desk, relay)
    before = provider.token_requests
    (delivery,) = desk.send_outbox()
    assert delivery.event == "sent" and len(relay.received) == 1
    assert relay.logins == [("XOAUTH2", False), ("XOAUTH2", True)]
    assert provider.token_requests == before + 1


def test_a_revoked_consent_keeps_the_mail_queued_and_says_why(
    desk: Desk, relay: RecordingRelay, provider: Provider
) -> None:
    provider.consent(desk)
    provider.revoke()
    _reply_waiting(desk, relay)
    (delivery,) = desk.send_outbox()
    assert delivery.event == "deferred" and "echodesk connect desk" in delivery.detail
    assert relay.received == []
    (row,) = desk.outbox("queued")
    assert "needs_consent" in row["last_error"]
    with desk.db.reading() as session:
        (record,) = [c for c in connectors.every(session) if c.name == "relay"]
    assert record.failing and "needs_consent" in record.last_error
