"""Mailboxes that sign in with OAuth2 (Microsoft 365, Gmail): real Dovecot with its
oauth2 passdb, checking every token at a loopback provider's introspection endpoint.

The provider (tests/support/oauth.py) grants, refreshes, expires, revokes and
misbehaves; Echo's pollers are wired as ``serve`` wires them
(``serving.pollers_for``), with the grant sealed in the real database, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from echodesk.config import ImapAccount, OAuthClient
from echodesk.desk.jobs.alerts import run_alerts
from echodesk.mailbox.imap import ImapPoller
from echodesk.mailbox.oauth import ConsentNeeded, TokenEndpointFailed
from echodesk.serving import pollers_for
from echodesk.store import connectors
from echodesk.store import oauth as grants
from echodesk.store.health import snapshot_for
from echodesk.store.models import OAuthGrant
from tests.support.desk import Desk
from tests.support.dovecot import Dovecot, start_dovecot
from tests.support.mail import make_mail
from tests.support.oauth import USER, Provider

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


@pytest.fixture(scope="module")
def dovecot(provider: Provider) -> Iterator[Dovecot]:
    server = start_dovecot(introspection_url=f"{provider.url}/introspect")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def desk(db_url: str, tmp_path: Path, provider: Provider) -> Iterator[Desk]:
    provider.state.fault = ""
    harness = Desk(
        db_url,
        tmp_path / "data",
        oauth=(OAuthClient(**provider.settings()),),
        admin_addresses=("ops@desk.test",),
    )
    try:
        yield harness
    finally:
        harness.close()


def _root(desk: Desk) -> bytes:
    assert desk.ctx.keyring is not None
    return desk.ctx.keyring.root()


def _poller(desk: Desk, dovecot: Dovecot, sasl: str = "xoauth2") -> ImapPoller:
    account = ImapAccount(
        name="support",
        host=dovecot.host,
        port=dovecot.port,
        tls=False,
        user=USER,
        oauth="desk",
        sasl=sasl,
    )
    desk.reconfigure(imap=(account,))
    (poller,) = pollers_for(desk.settings, desk.db, desk.ctx)
    return poller


def _append(dovecot: Dovecot, provider: Provider, subject: str) -> str:
    """Put one customer message in the mailbox, signed in as its owner with a token."""
    message_id = f"oauth{next(_ids)}@customer.test"
    access, _ = provider.grant()
    with IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=10) as client:
        client.oauth2_login(USER, access)
        client.append("INBOX", make_mail(subject=subject, message_id=message_id))
    return message_id


def _spooled(desk: Desk) -> list[str]:
    """The Message-ID of every spooled message, once the worker has read them."""
    desk.run_worker_until_idle()
    return [row["message_id"] for row in desk.spool()]


def _grant_state(desk: Desk) -> str:
    with desk.db.reading() as session:
        return str(session.scalar(select(OAuthGrant.state).where(OAuthGrant.name == "desk")))


@pytest.mark.parametrize("sasl", ["xoauth2", "oauthbearer"])
def test_a_mailbox_is_polled_with_an_access_token(
    sasl: str, desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    provider.consent(desk)
    message_id = _append(dovecot, provider, f"Signed in with {sasl}")
    poller = _poller(desk, dovecot, sasl)
    before = provider.token_requests
    assert poller.poll_once() >= 1
    poller.close()
    assert message_id in _spooled(desk)
    assert provider.token_requests == before  # the stored token was fresh: no request


def test_a_token_past_its_expiry_is_renewed_before_the_login(
    desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    old_access, _ = provider.consent(desk, expires_in=-10)
    message_id = _append(dovecot, provider, "After the expiry")
    poller = _poller(desk, dovecot)
    before = provider.token_requests
    poller.poll_once()
    poller.close()
    assert message_id in _spooled(desk)
    assert provider.token_requests == before + 1
    grant = grants.read(desk.db, grants.sealer(_root(desk)), "desk")
    assert grant is not None and grant.access_token != old_access
    assert grant.expires_at is not None and grant.expires_at > datetime.now(UTC)


def test_a_refused_token_is_renewed_once_and_the_poll_succeeds(
    desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    provider.consent(desk)
    provider.expire_access_tokens()  # the provider ended it early: Dovecot refuses it
    message_id = _append(dovecot, provider, "After a refusal")
    poller = _poller(desk, dovecot)
    before = provider.token_requests
    poller.poll_once()
    poller.close()
    assert message_id in _spooled(desk)
    assert provider.token_requests == before + 1
    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert not record.failing and record.last_success_at is not None


def test_a_revoked_consent_needs_a_person_once_and_never_loops(
    desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    provider.consent(desk)
    message_id = _append(dovecot, provider, "Waiting for consent")
    provider.revoke()
    poller = _poller(desk, dovecot)
    before = provider.token_requests
    with pytest.raises(ConsentNeeded, match="echodesk connect desk"):
        poller.poll_once()
    assert _grant_state(desk) == grants.NEEDS_CONSENT
    assert provider.token_requests == before + 1

    # The poller keeps running and backs off; the provider is not asked again.
    poller.retry_seconds = 0.05
    stop = threading.Event()
    runner = threading.Thread(target=poller.run, args=(stop,))
    runner.start()
    time.sleep(1.0)
    assert runner.is_alive()
    stop.set()
    runner.join(timeout=10)
    assert provider.token_requests == before + 1

    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert record.failing and "needs_consent" in record.last_error
    found = snapshot_for(desk.settings, desk.db)
    assert any("echodesk connect desk" in p for p in found.problems)
    assert "oauth:desk" in run_alerts(desk.db, desk.ctx).opened
    assert run_alerts(desk.db, desk.ctx).opened == ()  # once per incident
    (alert,) = [r for r in desk.outbox() if r["purpose"] == "alert"]
    assert alert["rcpt"] == "ops@desk.test"

    provider.consent(desk)  # a person consents again
    poller.poll_once()
    poller.close()
    assert message_id in _spooled(desk)
    assert "oauth:desk" in run_alerts(desk.db, desk.ctx).cleared


@pytest.mark.parametrize(
    ("fault", "said"),
    [("garbage", "not JSON"), ("500", "HTTP 500"), ("timeout", "no answer in time")],
)
def test_a_provider_that_misbehaves_is_a_recorded_error_that_loses_nothing(
    fault: str, said: str, desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    provider.consent(desk, expires_in=-10)  # the next poll must ask the provider
    message_id = _append(dovecot, provider, f"Provider says {fault}")
    poller = _poller(desk, dovecot)
    provider.state.fault = fault
    with pytest.raises(TokenEndpointFailed, match=said):
        poller.poll_once()
    assert message_id not in _spooled(desk)
    assert _grant_state(desk) == grants.CONNECTED  # the weather, not a refusal
    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert record.failing and said in record.last_error

    provider.state.fault = ""
    poller.poll_once()
    poller.poll_once()
    poller.close()
    assert _spooled(desk).count(message_id) == 1


def test_tokens_are_stored_sealed_and_a_changed_secret_asks_for_consent(
    desk: Desk, dovecot: Dovecot, provider: Provider
) -> None:
    access, refresh = provider.consent(desk)
    with desk.db.reading() as session:
        row: Any = session.get(OAuthGrant, "desk")
        assert refresh not in row.refresh_token and access not in row.access_token
        assert row.refresh_token and row.access_token
    desk.reconfigure(secret="another-installation-secret")
    poller = _poller(desk, dovecot)
    with pytest.raises(ConsentNeeded, match="do not decrypt"):
        poller.poll_once()
    assert _grant_state(desk) == grants.NEEDS_CONSENT
