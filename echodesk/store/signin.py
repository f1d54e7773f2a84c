"""One-time sign-in links for the web archive: made, and redeemed once, within minutes.

A link carries a random token; the table holds only its SHA-256, so a copy
of the database is no key to the archive. Redeeming is a single conditional
UPDATE (unused and unexpired), so a link works once even if two requests
race, and a token is found by its hash (no timing to learn from).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from echodesk.store.models import SigninToken
from echodesk.store.types import utcnow

TTL = timedelta(minutes=15)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def create(session: Session, agent_id: int, ttl: timedelta = TTL) -> str:
    """A new token for the agent, valid for ``ttl``."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        SigninToken(
            token_hash=_hash(token), agent_id=agent_id, created_at=now, expires_at=now + ttl
        )
    )
    return token


def redeem(session: Session, token: str) -> int | None:
    """The agent id of a valid, unused token, which is used up; None otherwise."""
    if not token or len(token) > 200:
        return None
    digest = _hash(token)
    now = utcnow()
    result = session.execute(
        update(SigninToken)
        .where(
            SigninToken.token_hash == digest,
            SigninToken.used_at.is_(None),
            SigninToken.expires_at > now,
        )
        .values(used_at=now)
    )
    if cast(Any, result).rowcount != 1:
        return None
    return session.scalar(select(SigninToken.agent_id).where(SigninToken.token_hash == digest))
