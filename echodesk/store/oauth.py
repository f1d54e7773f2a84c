"""OAuth2 grants in ``oauth_grants``: the tokens each application was given, sealed.

A refresh token opens a mailbox for months, so it is never stored as it
came: it is encrypted (Fernet: AES-128-CBC with an HMAC) with a key derived
by HKDF from the installation's first secret, which every process shares and
a rotation does not change. A database dump alone opens nothing. A grant
whose tokens no longer decrypt (the ``secret`` setting was changed) reads as
one that needs consent again, which is what it is.

Rows are written in their own committed transactions, so a token refreshed
by one process is the one every other process uses next.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.store.db import Database
from echodesk.store.models import OAuthGrant
from echodesk.store.types import utcnow

CONNECTED = "connected"
NEEDS_CONSENT = "needs_consent"


def sealer(root_secret: bytes) -> Fernet:
    """The cipher of stored tokens, derived from the installation's first secret."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"echodesk oauth grants"
    ).derive(root_secret)
    return Fernet(base64.urlsafe_b64encode(key))


@dataclass(frozen=True)
class Grant:
    """One application's consent as the desk uses it (tokens in clear, in memory only)."""

    name: str
    state: str
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    expires_at: datetime | None
    error: str
    consented_at: datetime | None = None
    updated_at: datetime | None = None


def read(db: Database, cipher: Fernet, name: str) -> Grant | None:
    """The grant called ``name``; None when no one has connected it yet."""
    with db.reading() as session:
        row = session.get(OAuthGrant, name)
        if row is None:
            return None
        return _opened(row, cipher)


def _opened(row: OAuthGrant, cipher: Fernet) -> Grant:
    try:
        refresh_token = _unseal(cipher, row.refresh_token)
        access_token = _unseal(cipher, row.access_token)
    except InvalidToken:
        return Grant(
            row.name,
            NEEDS_CONSENT,
            "",
            "",
            None,
            "the stored tokens do not decrypt (the installation secret changed)",
            row.consented_at,
            row.updated_at,
        )
    return Grant(
        row.name,
        row.state,
        refresh_token,
        access_token,
        row.expires_at,
        row.error,
        row.consented_at,
        row.updated_at,
    )


def _seal(cipher: Fernet, value: str) -> str:
    return cipher.encrypt(value.encode()).decode("ascii") if value else ""


def _unseal(cipher: Fernet, value: str) -> str:
    return cipher.decrypt(value.encode("ascii")).decode() if value else ""


def consented(
    db: Database,
    cipher: Fernet,
    name: str,
    *,
    refresh_token: str,
    access_token: str,
    expires_at: datetime,
) -> None:
    """A person has just consented: the new tokens replace whatever was there."""
    now = utcnow()
    with db.transaction() as session:
        row = session.get(OAuthGrant, name, with_for_update=True)
        if row is None:
            row = OAuthGrant(name=name)
            session.add(row)
        row.state = CONNECTED
        row.refresh_token = _seal(cipher, refresh_token)
        row.access_token = _seal(cipher, access_token)
        row.expires_at = expires_at
        row.error = ""
        row.consented_at = now
        row.updated_at = now


def refreshed(
    db: Database,
    cipher: Fernet,
    name: str,
    *,
    access_token: str,
    expires_at: datetime,
    refresh_token: str = "",
) -> None:
    """Keep a renewed access token (and the refresh token, when the provider rotated it)."""
    with db.transaction() as session:
        row = session.get(OAuthGrant, name, with_for_update=True)
        if row is None:  # removed meanwhile: nothing to renew
            return
        row.access_token = _seal(cipher, access_token)
        row.expires_at = expires_at
        if refresh_token:
            row.refresh_token = _seal(cipher, refresh_token)
        row.updated_at = utcnow()


def refused(
    db: Database, name: str, error: str, *, refresh_token_used: str, cipher: Fernet
) -> bool:
    """The provider refused the refresh token: the grant needs consent (unless replaced).

    Only when the stored refresh token is still the one refused: a person who
    connected again in the meantime is not undone. True when it was marked.
    """
    with db.transaction() as session:
        row = session.get(OAuthGrant, name, with_for_update=True)
        if row is None:
            return False
        try:
            current = _unseal(cipher, row.refresh_token)
        except InvalidToken:
            current = refresh_token_used
        if current != refresh_token_used:
            return False
        row.state = NEEDS_CONSENT
        row.access_token = ""
        row.error = error[:1000]
        row.updated_at = utcnow()
        return True


def every(session: Session) -> list[tuple[str, str, str]]:
    """(name, state, error) of every grant, by name: what health shows (no tokens read)."""
    rows = session.execute(
        select(OAuthGrant.name, OAuthGrant.state, OAuthGrant.error).order_by(OAuthGrant.name)
    )
    return [(name, state, error) for name, state, error in rows]


__all__ = [
    "CONNECTED",
    "NEEDS_CONSENT",
    "Grant",
    "consented",
    "every",
    "read",
    "refreshed",
    "refused",
    "sealer",
]
