"""Signed addresses: the ticket reply address and the VERP bounce address.

Echo puts addresses in outgoing mail that carry what a reply or a bounce is
about: ``support+t-42-<sig>@domain`` in Reply-To names ticket 42;
``support+a-42-7-<sig>@domain`` (and the Message-ID ``echo.n-42-7-<sig>.x@``)
of a notification names ticket 42 *and* agent 7, so an agent's reply proves
whose it is; the envelope sender ``bounces+1234-<sig>@domain`` names outbox
row 1234 (one message to one recipient). The signature is an HMAC-SHA256 over the fields
with the installation's secret, truncated and written in lower-case base32,
so anyone can read the fields but nobody without the secret can make an
address that Echo believes (a stranger cannot join a ticket or fake a bounce
by guessing). Lower case because some mail servers lower-case local parts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from echodesk.config import Settings
from echodesk.errors import ConfigError

SIGNATURE_LENGTH = 12  # base32 characters: 60 bits of the HMAC
INSTALLATION_ID_LENGTH = 16  # hex characters: 64 bits of the HMAC
_INSTALLATION_LABEL = b"echodesk installation id"
_FIELD_RE = re.compile(r"[a-z0-9]{1,20}")
SECRET_FILE = "secret"


def installation_secret(settings: Settings) -> bytes:
    """The secret from settings, or the one kept in the data folder (made once)."""
    if settings.secret:
        return settings.secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked into place: a process that
    # starts at the same moment sees either no file or the whole secret, and the
    # link fails for all but the first, who then use the first one's secret.
    temp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ConfigError(f"{path} is empty: delete it to have a new secret made")
    return value.encode()


def installation_id(secret: bytes) -> str:
    """This installation's id, written in the X-Echodesk-Loop header of all it sends.

    An HMAC of a fixed label, so every process of one installation agrees on
    it without storing anything, two installations differ, and publishing it
    in every message reveals nothing of the secret nor any signature: the
    label cannot be a token's fields (those never hold spaces). Only mail
    carrying this id is Echo's own mail come back, i.e. a loop.
    """
    digest = hmac.new(secret, _INSTALLATION_LABEL, hashlib.sha256).hexdigest()
    return digest[:INSTALLATION_ID_LENGTH]


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


def read_token(secret: bytes, token: str) -> tuple[str, ...] | None:
    """The fields of a token whose signature is right, else None (never raises)."""
    parts = token.strip().lower().split("-")
    if len(parts) < 2 or len(token) > 200:
        return None
    *fields, signature = parts
    if not all(_FIELD_RE.fullmatch(f) for f in fields):
        return None
    if not hmac.compare_digest(signature, sign(secret, *fields)):
        return None
    return tuple(fields)


def _ticket_and_agent(fields: tuple[str, ...] | None, kind: str = "a") -> tuple[int, int] | None:
    if fields is None or len(fields) != 3 or fields[0] != kind:
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return int(fields[1]), int(fields[2])


@dataclass(frozen=True)
class Addresses:
    """Echo's own signed addresses for one installation."""

    secret: bytes
    support_address: str
    domain: str
    bounce_local: str

    @classmethod
    def for_settings(cls, settings: Settings, secret: bytes) -> Addresses:
        return cls(
            secret=secret,
            support_address=settings.support_address.lower(),
            domain=settings.outgoing_domain,
            bounce_local=settings.bounce_local_part.lower(),
        )

    # -- the ticket reply address ------------------------------------------------
    def reply_address(self, ticket_id: int) -> str:
        """``support+t-<ticket id>-<sig>@domain``: a reply to it joins that ticket."""
        local, _, domain = self.support_address.partition("@")
        return f"{local}+{make_token(self.secret, 't', str(ticket_id))}@{domain}"

    def ticket_of(self, address: str) -> int | None:
        """The ticket id a reply address names, if its signature is right."""
        fields = self._sub_address(address, self.support_address)
        if fields is None or len(fields) != 2 or fields[0] != "t" or not fields[1].isdigit():
            return None
        return int(fields[1])

    # -- an agent's notification: reply address and Message-ID -------------------
    def agent_reply_address(self, ticket_id: int, agent_id: int) -> str:
        """``support+a-<ticket>-<agent>-<sig>@domain``: proves who may answer what."""
        local, _, domain = self.support_address.partition("@")
        token = make_token(self.secret, "a", str(ticket_id), str(agent_id))
        return f"{local}+{token}@{domain}"

    def agent_of_address(self, address: str) -> tuple[int, int] | None:
        """(ticket id, agent id) of a signed agent reply address, else None."""
        return _ticket_and_agent(self._sub_address(address, self.support_address))

    def notification_id(self, ticket_id: int, agent_id: int) -> str:
        """A bare Message-ID for one notification, signed for its ticket and agent."""
        token = make_token(self.secret, "n", str(ticket_id), str(agent_id))
        return f"echo.{token}.{secrets.token_hex(6)}@{self.domain}"

    def agent_of_message_id(self, message_id: str) -> tuple[int, int] | None:
        """(ticket id, agent id) of a notification's Message-ID, if Echo signed it."""
        local, _, domain = message_id.strip().strip("<>").lower().rpartition("@")
        parts = local.split(".")
        if domain != self.domain or len(parts) != 3 or parts[0] != "echo":
            return None
        fields = read_token(self.secret, parts[1])
        return _ticket_and_agent(fields, "n")

    def ticket_root_id(self, ticket_id: int) -> str:
        """The stable id every notification of a ticket refers to: one thread per ticket."""
        return f"echo.ticket-{ticket_id}@{self.domain}"

    # -- the VERP bounce address -------------------------------------------------
    def bounce_address(self, outbox_id: int) -> str:
        """``bounces+<outbox id>-<sig>@domain``: the envelope sender of one outbox row."""
        token = make_token(self.secret, str(outbox_id))
        return f"{self.bounce_local}+{token}@{self.domain}"

    def outbox_of(self, address: str) -> int | None:
        """The outbox row a bounce address names, if its signature is right."""
        fields = self._sub_address(address, f"{self.bounce_local}@{self.domain}")
        if fields is None or len(fields) != 1 or not fields[0].isdigit():
            return None
        return int(fields[0])

    def is_bounce_address(self, address: str) -> bool:
        local, _, domain = address.strip().lower().strip("<>").rpartition("@")
        return domain == self.domain and local.partition("+")[0] == self.bounce_local

    def _sub_address(self, address: str, base: str) -> tuple[str, ...] | None:
        local, _, domain = address.strip().lower().strip("<>").rpartition("@")
        base_local, _, base_domain = base.partition("@")
        head, plus, tag = local.partition("+")
        if domain != base_domain or head != base_local or not plus:
            return None
        return read_token(self.secret, tag)
