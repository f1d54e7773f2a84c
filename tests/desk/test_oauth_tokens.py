"""Access tokens shared through the database: one process renews, every other uses it;
a provider that rotates refresh tokens is followed; the presets ask the right places.

The loopback provider of tests/support/oauth.py; the grant in the real database
(SQLite and PostgreSQL). Two :class:`StoredTokens` stand for two processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.config import OAuthClient
from echodesk.desk.oauth import StoredTokens
from echodesk.mailbox.oauth import ConsentNeeded, endpoints_for
from echodesk.store import oauth as grants
from tests.support.desk import Desk
from tests.support.oauth import Provider


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(db_url, tmp_path / "data")
    try:
        yield harness
    finally:
        harness.close()


def _process(desk: Desk, provider: Provider) -> StoredTokens:
    assert desk.ctx.keyring is not None
    return StoredTokens(desk.db, desk.ctx.keyring, OAuthClient(**provider.settings()))


def test_a_token_one_process_renewed_is_used_by_the_others(desk: Desk, provider: Provider) -> None:
    provider.consent(desk, expires_in=-5)
    first, second = _process(desk, provider), _process(desk, provider)
    before = provider.token_requests
    token = first.access_token()
    assert second.access_token() == token  # read from the database, not asked again
    assert provider.token_requests == before + 1
    # The second process's login with it was refused: it renews, and the first follows.
    renewed = second.access_token(renew=True)
    assert renewed != token and provider.token_requests == before + 2
    assert first.access_token(renew=True) == renewed  # already renewed by the other
    assert provider.token_requests == before + 2


def test_a_rotated_refresh_token_is_kept_and_used_next(desk: Desk, provider: Provider) -> None:
    _, first_refresh = provider.consent(desk, expires_in=-5)
    provider.state.rotate = True
    try:
        tokens = _process(desk, provider)
        tokens.access_token()
        assert first_refresh not in provider.state.refresh  # the provider retired it
        assert desk.ctx.keyring is not None
        grant = grants.read(desk.db, grants.sealer(desk.ctx.keyring.root()), "desk")
        assert grant is not None and grant.refresh_token in provider.state.refresh
        assert tokens.access_token(renew=True)  # works with the rotated one
    finally:
        provider.state.rotate = False


def test_without_a_consent_the_connector_is_told_what_to_run(
    desk: Desk, provider: Provider
) -> None:
    before = provider.token_requests
    with pytest.raises(ConsentNeeded, match="no one has connected it yet; run 'echodesk connect"):
        _process(desk, provider).access_token()
    assert provider.token_requests == before


def test_the_presets_ask_microsoft_and_google_for_mail() -> None:
    microsoft = endpoints_for(
        OAuthClient(name="m", provider="microsoft", client_id="c", tenant="contoso.com")
    )
    base = "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/"
    assert microsoft.token_url == base + "token" and microsoft.device_url == base + "devicecode"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in microsoft.scopes
    assert "https://outlook.office.com/SMTP.Send" in microsoft.scopes
    assert "offline_access" in microsoft.scopes  # else no refresh token
    google = endpoints_for(OAuthClient(name="g", provider="google", client_id="c"))
    assert google.scopes == ("https://mail.google.com/",)
    assert google.device_url == ""  # Google's device flow does not grant the mail scope
    assert google.authorize_extra == {"access_type": "offline", "prompt": "consent"}
    generic = endpoints_for(
        OAuthClient(
            name="x",
            provider="generic",
            client_id="c",
            token_url="https://id.example/token",
            scopes=("mail",),
        )
    )
    assert (generic.token_url, generic.scopes, generic.device_url) == (
        "https://id.example/token",
        ("mail",),
        "",
    )
