"""Access tokens for mailboxes and the relay, from the grant stored in the database.

:class:`StoredTokens` is the one :class:`~echodesk.mailbox.oauth.TokenSource`
every connector signing in with OAuth2 asks. It answers from memory while
the token is fresh, else from the database (another process may have renewed
it), else renews it with the refresh token and stores the result for all.
A connector whose login was refused asks again with ``renew=True`` once.

When the provider refuses the refresh token, the grant is marked
``needs_consent`` and :class:`ConsentNeeded` is raised; from then on the
provider is not asked again until someone runs ``echodesk connect`` (which
stores a new grant): a revoked consent costs one refused request, not one per
poll, and the connector keeps running, failing in ``status`` and the alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from cryptography.fernet import Fernet

from echodesk.config import OAuthClient, Settings
from echodesk.errors import ConfigError
from echodesk.mailbox import oauth
from echodesk.mailbox.oauth import ConsentNeeded, Token
from echodesk.store import oauth as grants
from echodesk.store.db import Database
from echodesk.store.secrets import Keyring

log = logging.getLogger(__name__)


class StoredTokens:
    """The current access token of one ``oauth`` entry (thread-safe; one per process)."""

    def __init__(self, db: Database, keyring: Keyring, client: OAuthClient) -> None:
        self.db = db
        self.client = client
        self._keyring = keyring
        self._token: Token | None = None
        self._lock = threading.Lock()

    def access_token(self, *, renew: bool = False) -> str:
        """A token to sign in with; ``renew``: the last one was refused, get another."""
        with self._lock:
            if not renew and _fresh(self._token):
                assert self._token is not None
                return self._token.access_token
            cipher = grants.sealer(self._keyring.root())
            grant = grants.read(self.db, cipher, self.client.name)
            if grant is None:
                raise ConsentNeeded(self._consent_hint("no one has connected it yet"))
            if grant.state != grants.CONNECTED:
                if not grant.refresh_token:  # tokens that no longer decrypt: say so
                    grants.refused(
                        self.db, grant.name, grant.error, refresh_token_used="", cipher=cipher
                    )
                raise ConsentNeeded(self._consent_hint(grant.error))
            stored = _token_of(grant)
            rejected = self._token.access_token if renew and self._token is not None else None
            if _fresh(stored) and stored.access_token != rejected:  # another process renewed it
                self._token = stored
                return stored.access_token
            self._token = self._renew(grant, cipher)
            return self._token.access_token

    def _renew(self, grant: grants.Grant, cipher: Fernet) -> Token:
        try:
            token = oauth.refresh(self.client, grant.refresh_token)
        except ConsentNeeded as exc:
            if grants.refused(
                self.db, grant.name, str(exc), refresh_token_used=grant.refresh_token, cipher=cipher
            ):
                log.error("oauth %s needs consent: %s", self.client.name, exc)
            raise ConsentNeeded(self._consent_hint(str(exc))) from None
        grants.refreshed(
            self.db,
            cipher,
            grant.name,
            access_token=token.access_token,
            expires_at=datetime.fromtimestamp(token.expires_at, UTC),
            refresh_token=token.refresh_token,
        )
        log.info("oauth %s access token renewed", self.client.name)
        return token

    def _consent_hint(self, why: str) -> str:
        name = self.client.name
        return f"needs_consent: oauth '{name}': {why}; run 'echodesk connect {name}'"


def _token_of(grant: grants.Grant) -> Token:
    expires = grant.expires_at.timestamp() if grant.expires_at is not None else 0.0
    return Token(grant.access_token, expires)


def _fresh(token: Token | None) -> bool:
    return (
        token is not None
        and bool(token.access_token)
        and token.expires_at - oauth.RENEW_BEFORE_SECONDS > time.time()
    )


def client_named(settings: Settings, name: str) -> OAuthClient:
    """The ``oauth`` entry called ``name``, or a clear error naming the known ones."""
    for client in settings.oauth:
        if client.name == name:
            return client
    known = ", ".join(c.name for c in settings.oauth) or "none"
    raise ConfigError(f"no 'oauth' entry named {name!r} in the settings (known: {known})")


class TokenSources:
    """One :class:`StoredTokens` per ``oauth`` entry, shared by the connectors of a process."""

    def __init__(self, settings: Settings, db: Database, keyring: Keyring) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self._made: dict[str, StoredTokens] = {}

    def get(self, name: str) -> StoredTokens | None:
        """The tokens of entry ``name``; None for "" (the connector uses a password)."""
        if not name:
            return None
        if name not in self._made:
            self._made[name] = StoredTokens(
                self.db, self.keyring, client_named(self.settings, name)
            )
        return self._made[name]


__all__ = ["StoredTokens", "TokenSources", "client_named"]
