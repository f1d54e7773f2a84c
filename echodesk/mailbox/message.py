"""The parsed message: the one mail type shared by every part of Echo.

Frozen dataclasses, so a stage can hand a message on without anyone changing
it behind its back. Only :mod:`echodesk.mailbox.parse` builds them from bytes;
the rules engine, the pipeline and the web archive read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    """One mailbox: display name (decoded) and address as written."""

    name: str
    email: str

    @property
    def key(self) -> str:
        """The address as Echo compares it: lower-cased, surrounding space removed."""
        return self.email.strip().lower()

    @property
    def domain(self) -> str:
        return self.key.rpartition("@")[2]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class AttachmentPart:
    """A file carried by the message (regular, inline image, or forwarded .eml)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str = ""
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ParsedMessage:
    """What Echo knows about one email after parsing.

    ``message_id`` and every id in ``in_reply_to``/``references`` are bare (no
    angle brackets). When the mail had no Message-ID one is derived from the
    content hash (``message_id_generated`` is then true), so a redelivery gets
    the same id. ``defects`` lists what was wrong with the input; parsing never
    raises, it degrades and says so here.
    """

    message_id: str
    message_id_generated: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None
    text: str
    html: str
    attachments: tuple[AttachmentPart, ...]
    headers: dict[str, tuple[str, ...]]
    content_hash: str
    size: int
    defects: tuple[str, ...] = ()
    #: The oldest readable ``Received`` stamp (see :mod:`echodesk.mailbox.mailtime`).
    first_received: datetime | None = None

    def header(self, name: str) -> str:
        """First value of a kept header (lower-case name), or ''."""
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""

    @property
    def sender(self) -> Address | None:
        return self.from_

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every id this message points at: References first, then In-Reply-To."""
        seen: dict[str, None] = {}
        for mid in (*self.references, *self.in_reply_to):
            if mid != self.message_id:
                seen.setdefault(mid, None)
        return tuple(seen)


@dataclass(frozen=True)
class Envelope:
    """How a message reached Echo, as the wire saw it (kept on its spool row)."""

    source: str  # smtp | imap | webhook | file
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    peer: str = ""  # the client's address, or the IMAP account and folder
    source_ref: str = ""  # file path, IMAP UIDVALIDITY:UID, ...
    received_at: datetime | None = None
    helo: str = ""  # the name the SMTP client gave in EHLO/HELO (for SPF)


#: What a receiver is handed: store the raw message durably, return its spool id.
#: It must not return before the message is committed; it raises if it cannot.
Accept = Callable[[bytes, Envelope], int]
