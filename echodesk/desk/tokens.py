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

The secret lives in the database (``store/secrets.py``), so every process on
every machine signs alike and a restart on an empty disk changes nothing;
after ``echodesk secret rotate`` addresses are signed with the newest secret
and verified with every secret still in its grace period.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from echodesk.config import Settings
from echodesk.signing import make_token, read_token
from echodesk.store.db import Database
from echodesk.store.secrets import Keyring, database_loader

INSTALLATION_ID_LENGTH = 16  # hex characters: 64 bits of the HMAC
_INSTALLATION_LABEL = b"echodesk installation id"
#: Where older versions kept a generated secret; adopted into the database once.
SECRET_FILE = "secret"


def keyring_for(settings: Settings, db: Database | None = None) -> Keyring:
    """The installation's secrets: setting ``secret``, else the database's (made on first need).

    Without ``db`` the settings' database is opened for each (re-)read. An
    old ``<data_dir>/secret`` file is adopted when the database holds none.
    """
    if settings.secret:
        return Keyring.fixed(settings.secret.encode())
    source: Database | str = db if db is not None else settings.effective_database_url()
    loader = database_loader(source, legacy_file=Path(settings.data_dir) / SECRET_FILE)
    return Keyring(loader, grace=timedelta(days=settings.secret_grace_days))


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


def _ticket_and_agent(fields: tuple[str, ...] | None, kind: str = "a") -> tuple[int, int] | None:
    """(ticket, agent) of a signed agent token: ``kind-ticket-agent[-seen]``."""
    if fields is None or len(fields) not in (3, 4) or fields[0] != kind:
        return None
    if not all(f.isdigit() for f in fields[1:]):
        return None
    return int(fields[1]), int(fields[2])


def _seen(fields: tuple[str, ...] | None, kind: str) -> int | None:
    """The last customer-visible message a notification showed (tokens made since it is named)."""
    if _ticket_and_agent(fields, kind) is None or fields is None or len(fields) != 4:
        return None
    return int(fields[3])


def _agent_fields(ticket_id: int, agent_id: int, seen: int | None) -> tuple[str, ...]:
    fields = (str(ticket_id), str(agent_id))
    return fields if seen is None else (*fields, str(seen))


@dataclass(frozen=True)
class Addresses:
    """Echo's own signed addresses for one installation.

    Signed with the keyring's newest secret; verified with every secret still
    in its grace period (``secret_grace_days`` after a rotation).
    """

    keys: Keyring
    support_address: str
    domain: str
    bounce_local: str

    @classmethod
    def for_settings(cls, settings: Settings, secret: bytes | Keyring) -> Addresses:
        return cls(
            keys=secret if isinstance(secret, Keyring) else Keyring.fixed(secret),
            support_address=settings.support_address.lower(),
            domain=settings.outgoing_domain,
            bounce_local=settings.bounce_local_part.lower(),
        )

    # -- the ticket reply address ------------------------------------------------
    def reply_address(self, ticket_id: int) -> str:
        """``support+t-<ticket id>-<sig>@domain``: a reply to it joins that ticket."""
        local, _, domain = self.support_address.partition("@")
        return f"{local}+{make_token(self.keys.signing(), 't', str(ticket_id))}@{domain}"

    def ticket_of(self, address: str) -> int | None:
        """The ticket id a reply address names, if its signature is right."""
        fields = self._sub_address(address, self.support_address)
        if fields is None or len(fields) != 2 or fields[0] != "t" or not fields[1].isdigit():
            return None
        return int(fields[1])

    # -- an agent's notification: reply address and Message-ID -------------------
    def agent_reply_address(self, ticket_id: int, agent_id: int, seen: int | None = None) -> str:
        """``support+a-<ticket>-<agent>-<seen>-<sig>@domain``: proves who may answer what,
        and which was the last message they saw (the collision guard reads it)."""
        local, _, domain = self.support_address.partition("@")
        token = make_token(self.keys.signing(), "a", *_agent_fields(ticket_id, agent_id, seen))
        return f"{local}+{token}@{domain}"

    def agent_of_address(self, address: str) -> tuple[int, int] | None:
        """(ticket id, agent id) of a signed agent reply address, else None."""
        return _ticket_and_agent(self._sub_address(address, self.support_address))

    def seen_in_address(self, address: str) -> int | None:
        """The last message the notification a reply address came with showed."""
        return _seen(self._sub_address(address, self.support_address), "a")

    def notification_id(self, ticket_id: int, agent_id: int, seen: int | None = None) -> str:
        """A bare Message-ID for one notification, signed for its ticket and agent."""
        token = make_token(self.keys.signing(), "n", *_agent_fields(ticket_id, agent_id, seen))
        return f"echo.{token}.{secrets.token_hex(6)}@{self.domain}"

    def agent_of_message_id(self, message_id: str) -> tuple[int, int] | None:
        """(ticket id, agent id) of a notification's Message-ID, if Echo signed it."""
        return _ticket_and_agent(self._notification_fields(message_id), "n")

    def seen_in_message_id(self, message_id: str) -> int | None:
        """The last message a notification showed, by its Message-ID."""
        return _seen(self._notification_fields(message_id), "n")

    def _notification_fields(self, message_id: str) -> tuple[str, ...] | None:
        local, _, domain = message_id.strip().strip("<>").lower().rpartition("@")
        parts = local.split(".")
        if domain != self.domain or len(parts) != 3 or parts[0] != "echo":
            return None
        return read_token(self.keys.verifying(), parts[1])

    def ticket_root_id(self, ticket_id: int) -> str:
        """The stable id every notification of a ticket refers to: one thread per ticket."""
        return f"echo.ticket-{ticket_id}@{self.domain}"

    # -- the VERP bounce address -------------------------------------------------
    def bounce_address(self, outbox_id: int) -> str:
        """``bounces+<outbox id>-<sig>@domain``: the envelope sender of one outbox row."""
        token = make_token(self.keys.signing(), str(outbox_id))
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
        return read_token(self.keys.verifying(), tag)
