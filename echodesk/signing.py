"""Signed tokens: short fields and an HMAC over them, readable by anyone, made only with
the installation's secret.

Echo's reply and bounce addresses (``desk/tokens.py``) and the customers'
rating links (``web/rating.py``) carry such tokens. They sit at the bottom of
the layers so both the desk and the web archive read them one way. The
signature is HMAC-SHA256 over the fields, truncated and written in lower-case
base32 (some mail servers lower-case local parts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

SIGNATURE_LENGTH = 12  # base32 characters: 60 bits of the HMAC
_FIELD_RE = re.compile(r"[a-z0-9]{1,20}")


def sign(secret: bytes, *fields: str) -> str:
    """The signature of ``fields`` (lower-case base32, :data:`SIGNATURE_LENGTH` chars)."""
    digest = hmac.new(secret, "\x1f".join(fields).encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:SIGNATURE_LENGTH]


def make_token(secret: bytes, *fields: str) -> str:
    """``field-field-signature``: fields are short lower-case letters and digits."""
    for field in fields:
        if not _FIELD_RE.fullmatch(field):
            raise ValueError(f"token field {field!r}: lower-case letters and digits only")
    return "-".join([*fields, sign(secret, *fields)])


def read_token(secret: bytes | Sequence[bytes], token: str) -> tuple[str, ...] | None:
    """The fields of a token signed with ``secret`` (or any of several secrets), else None.

    Never raises: a token is whatever came in an address.
    """
    parts = token.strip().lower().split("-")
    if len(parts) < 2 or len(token) > 200:
        return None
    *fields, signature = parts
    if not all(_FIELD_RE.fullmatch(f) for f in fields):
        return None
    keys = (secret,) if isinstance(secret, bytes) else secret
    if not any(hmac.compare_digest(signature, sign(key, *fields)) for key in keys):
        return None
    return tuple(fields)


__all__ = ["SIGNATURE_LENGTH", "make_token", "read_token", "sign"]
