"""A spool row as deciding reads it (:class:`Item`), and what became of it (:class:`Decision`).

Both are frozen: an item is filled in once, outside any transaction
(:func:`~echodesk.desk.intake.pipeline.parse_row`), and deciding returns a
decision rather than writing onto the item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from echodesk.mailbox.bounce import BounceReport
from echodesk.mailbox.classify import Verdict
from echodesk.mailbox.complaint import ComplaintReport
from echodesk.mailbox.mailtime import mail_time
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.trust import SenderCheck
from echodesk.store.types import utcnow


@dataclass(frozen=True)
class Item:
    """One claimed spool row: its message parsed, trimmed and classified, as deciding reads it.

    Filled in once, outside any transaction (:func:`~echodesk.desk.intake.pipeline.parse_row`);
    what becomes of it is a separate :class:`Decision`.
    """

    row_id: int
    msg: ParsedMessage
    trimmed: str = ""
    verdict: Verdict | None = None
    #: The ticket a signed reply address it was sent to names.
    reply_ticket: int | None = None
    #: The outbox row a signed VERP address it was sent to names.
    verp_outbox: int | None = None
    bounce: BounceReport | None = None
    #: (ticket id, agent id) of every valid agent signature the message carries.
    signed: tuple[tuple[int, int], ...] = ()
    #: Released from quarantine by an operator: the spam, flood and rule checks are skipped.
    released: bool = False
    #: What Echo and the trusted hosts found about the sender (see mailbox.trust).
    sender: SenderCheck | None = None
    #: The message's own time (see :mod:`echodesk.mailbox.mailtime`).
    sent_at: datetime | None = None
    complaint: ComplaintReport | None = None
    #: The last customer-visible message the answered notification showed (its signature
    #: names it); None for a notification from before signatures named it.
    seen: int | None = None

    @property
    def time(self) -> datetime:
        """The message's own time; read from the message alone when the row did not say."""
        if self.sent_at is not None:
            return self.sent_at
        return mail_time(self.msg.date, self.msg.first_received, None, utcnow())


@dataclass(frozen=True)
class Decision:
    """What became of one spool row: its state and kind, why, and its ticket."""

    #: The Message-ID it is stored under (derived when another message had its id).
    stored_id: str
    state: str = "processed"
    kind: str = ""
    reason: str = ""
    #: The ticket, by its key in the batch (see :class:`BatchIndex`).
    ticket: int | None = None
    created: bool = False
    #: Whether the message itself was added to ``ticket`` (a bounce only notes it).
    appended: bool = False
    #: The ticket, when it is known by id rather than by a key of the batch (agent mail).
    ticket_id: int | None = None
    ticket_number: int | None = None
