"""The database tables (DESIGN §5), as typed SQLAlchemy 2 models.

Every idempotency rule is a unique constraint (Message-ID, ticket number,
customer address, IMAP cursor), so "already done" shows up as an
IntegrityError that callers can treat as such. The models hold no behaviour:
what happens to a ticket is decided in :mod:`echodesk.desk`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from echodesk.store.types import BigId, UTCDateTime, intpk, str320, text, timestamp, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _fk(target: str, *, nullable: bool = True, ondelete: str | None = None) -> Any:
    return mapped_column(BigId, ForeignKey(target, ondelete=ondelete), nullable=nullable)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[intpk]
    email: Mapped[str320] = mapped_column(unique=True)
    display_name: Mapped[str] = mapped_column(String(320), default="")
    first_seen_at: Mapped[timestamp] = mapped_column(default=utcnow)
    last_seen_at: Mapped[timestamp] = mapped_column(default=utcnow)
    bounced_at: Mapped[datetime | None]
    #: Why mail to this address bounced permanently ("5.1.1 user unknown"), for operators.
    bounce_detail: Mapped[str] = mapped_column(String(400), default="")
    deleted_at: Mapped[datetime | None]


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[intpk]
    email: Mapped[str320] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="ops")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class AgentAlias(Base):
    """A further address an agent sends from; it counts as the agent's own."""

    __tablename__ = "agent_aliases"

    id: Mapped[intpk]
    agent_id: Mapped[int] = _fk("agents.id", nullable=False, ondelete="CASCADE")
    email: Mapped[str320] = mapped_column(unique=True)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[intpk]
    number: Mapped[int] = mapped_column(BigId, unique=True)
    customer_id: Mapped[int | None] = _fk("customers.id")
    assignee_id: Mapped[int | None] = _fk("agents.id")
    status: Mapped[str] = mapped_column(String(20), default="open")
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    subject: Mapped[text] = mapped_column(default="")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    #: When the status last changed: auto-close counts from the moment it became pending.
    status_changed_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = _fk("tickets.id")
    followup_of_id: Mapped[int | None] = _fk("tickets.id")
    #: Asleep until then (``#snooze``): woken by the scheduler, or at once by the customer.
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_tickets_status_updated", "status", "updated_at"),
        # A sender's tickets of a day (the flood limit, each intake batch): one range of
        # the customer's entries, however many tickets they opened over the years.
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_updated_at", "updated_at"),
        Index("ix_tickets_created_at", "created_at"),
        # The archive's tab and assignee counts read this index alone. Of the live
        # tickets only: SQLite's statistics count each missing value as distinct, so an
        # index holding merged_into_id looked selective for "IS NULL" (the live tickets:
        # nearly all) and the list read every ticket through it.
        Index(
            "ix_tickets_live_status_assignee",
            "status",
            "assignee_id",
            postgresql_where=sql_text("merged_into_id IS NULL"),
            sqlite_where=sql_text("merged_into_id IS NULL"),
        ),
        Index("ix_tickets_assignee_updated", "assignee_id", "updated_at"),
        Index("ix_tickets_snoozed_until", "snoozed_until"),
        # Reports: the tickets resolved or closed in a period.
        Index("ix_tickets_status_changed", "status", "status_changed_at"),
        # The few merged tickets (a tag's count of live tickets subtracts them), and the
        # tickets merged into one. Partial: a planner must never read the live tickets
        # (nearly all of them) through it.
        Index(
            "ix_tickets_merged_into",
            "merged_into_id",
            postgresql_where=sql_text("merged_into_id IS NOT NULL"),
            sqlite_where=sql_text("merged_into_id IS NOT NULL"),
        ),
    )


class TicketTag(Base):
    __tablename__ = "ticket_tags"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_ticket_tags_tag", "tag", "ticket_id"),)


class TicketParticipant(Base):
    """An address that takes part in a ticket: its customer, or someone CC'd.

    A subject tag ``[TKT-0042]`` threads a message only when its sender is one
    of these (or an agent); anyone else opens a new ticket.
    """

    __tablename__ = "ticket_participants"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), default="cc")

    __table_args__ = (Index("ix_ticket_participants_email", "email"),)


class Message(Base):
    """One message of a ticket: inbound mail, outbound reply or internal note."""

    __tablename__ = "messages"

    id: Mapped[intpk]
    ticket_id: Mapped[int] = _fk("tickets.id", nullable=False)
    direction: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="customer")
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    in_reply_to: Mapped[text] = mapped_column(default="")
    reference_ids: Mapped[text] = mapped_column(default="")
    from_email: Mapped[str320] = mapped_column(default="")
    from_name: Mapped[str] = mapped_column(String(320), default="")
    to_addrs: Mapped[list[Any]] = mapped_column(default=list)
    cc_addrs: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[text] = mapped_column(default="")
    body_text: Mapped[text] = mapped_column(default="")
    body_html: Mapped[text] = mapped_column(default="")
    trimmed_text: Mapped[text] = mapped_column(default="")
    customer_id: Mapped[int | None] = _fk("customers.id")
    agent_id: Mapped[int | None] = _fk("agents.id")
    spool_id: Mapped[int | None] = _fk("inbound_spool.id")
    thread_reason: Mapped[str] = mapped_column(String(1100), default="")
    defects: Mapped[list[Any]] = mapped_column(default=list)
    #: Whether the From address was the sender's own: pass, fail (unverified) or none.
    sender_auth: Mapped[str] = mapped_column(String(10), default="none", server_default="none")
    #: Echo's own Authentication-Results for it: what each check found ('' unchecked).
    auth_results: Mapped[text] = mapped_column(default="", server_default="")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_messages_ticket_id", "ticket_id", "id"),
        # Reports: a ticket's first reply to the customer, one probe.
        Index(
            "ix_messages_replies",
            "ticket_id",
            "created_at",
            postgresql_where=sql_text("kind = 'reply'"),
            sqlite_where=sql_text("kind = 'reply'"),
        ),
        # The archive's wait of an open ticket: its first customer message after the
        # latest reply, from this index alone (ticketlist.waiting_since).
        Index(
            "ix_messages_customer",
            "ticket_id",
            "created_at",
            "sent_at",
            postgresql_where=sql_text("kind = 'customer'"),
            sqlite_where=sql_text("kind = 'customer'"),
        ),
    )


class MessageReference(Base):
    """Each id a message names in References/In-Reply-To.

    Lets a parent that arrives after its reply find that reply (and its ticket).
    """

    __tablename__ = "message_references"

    message_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    ref_id: Mapped[str] = mapped_column(String(998), primary_key=True)

    __table_args__ = (Index("ix_message_references_ref_id", "ref_id"),)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[intpk]
    message_pk: Mapped[int] = _fk("messages.id", nullable=False, ondelete="CASCADE")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigId)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    content_id: Mapped[str] = mapped_column(String(998), default="")
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_attachments_message_pk", "message_pk"),
        Index("ix_attachments_sha256", "sha256"),
    )


class InboundSpool(Base):
    """Every received message, raw, before and after processing (DESIGN §2).

    Written and committed before the sender is told the message was accepted.
    Small messages keep their bytes in ``raw``; large ones in the blob store
    under ``raw_key``.
    """

    __tablename__ = "inbound_spool"

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[text] = mapped_column(default="")
    received_at: Mapped[timestamp] = mapped_column(default=utcnow)
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    rcpt_to: Mapped[list[Any]] = mapped_column(default=list)
    peer: Mapped[str] = mapped_column(String(200), default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_key: Mapped[str | None] = mapped_column(String(255))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigId)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    kind: Mapped[str] = mapped_column(String(20), default="")
    message_id: Mapped[str] = mapped_column(String(998), default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    ticket_id: Mapped[int | None] = _fk("tickets.id")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[timestamp] = mapped_column(default=utcnow)
    last_error: Mapped[text] = mapped_column(default="")
    detail: Mapped[text] = mapped_column(default="")
    #: The message's From and Subject as read, so a held row shows whose and what it is.
    from_header: Mapped[str] = mapped_column(String(998), default="", server_default="")
    subject: Mapped[text] = mapped_column(default="", server_default="")
    processed_at: Mapped[datetime | None]
    #: Set when an operator released the row from quarantine: it skips the checks.
    released_at: Mapped[datetime | None]

    __table_args__ = (
        # The queue: the oldest pending rows in id order, read until a batch is full
        # (due rows are nearly all of them), never the whole backlog sorted.
        Index("ix_inbound_spool_state_id", "state", "id"),
        Index("ix_inbound_spool_message_id", "message_id"),
    )


class Outbox(Base):
    """Outgoing mail, queued in the same transaction as the change that caused it.

    One row per recipient, so that a bounce to the row's VERP address names
    exactly the message and the recipient that failed, and so that suppressing
    one bounced address leaves the other recipients' copies alone. ``raw`` holds
    the composed message (``raw_key`` in the blob store when it is large);
    ``mail_from`` is the envelope sender it was (or will be) sent with.
    """

    __tablename__ = "outbox"

    id: Mapped[intpk]
    ticket_id: Mapped[int | None] = _fk("tickets.id")
    message_pk: Mapped[int | None] = _fk("messages.id")
    purpose: Mapped[str] = mapped_column(String(40), default="reply")
    state: Mapped[str] = mapped_column(String(20), default="queued")
    rcpt: Mapped[str320] = mapped_column(default="")
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    message_id: Mapped[str] = mapped_column(String(998), default="")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_key: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[timestamp] = mapped_column(default=utcnow)
    last_error: Mapped[text] = mapped_column(default="")
    #: Why the row is failed or suppressed: "bounced-recipient", "rejected", ...
    reason: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_rcpt_created", "rcpt", "created_at"),
        Index("ix_outbox_message_id", "message_id"),
    )


class AuditLog(Base):
    """What happened, who did it and to what; payloads carry no more PII than needed."""

    __tablename__ = "audit_log"

    id: Mapped[intpk]
    at: Mapped[timestamp] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(80))
    ticket_id: Mapped[int | None] = _fk("tickets.id")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        Index("ix_audit_log_ticket_id", "ticket_id"),
        Index("ix_audit_log_at", "at"),
    )


class AuditArchive(Base):
    """Audit rows past the retention period of the live trail, kept for the long one.

    The same columns as :class:`AuditLog` (and its ids), plus when the row was
    moved here; no foreign keys, so the archive outlives what it names.
    """

    __tablename__ = "audit_archive"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[timestamp]
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(80))
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    archived_at: Mapped[timestamp] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_audit_archive_at", "at"),)


class ImapState(Base):
    """The IMAP cursor: which UIDs of which mailbox are already in the spool."""

    __tablename__ = "imap_state"

    id: Mapped[intpk]
    account: Mapped[str] = mapped_column(String(200))
    mailbox: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigId)
    last_uid: Mapped[int] = mapped_column(BigId, default=0)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("account", "mailbox"),)


class SigninToken(Base):
    """A one-time web sign-in link: only its hash is kept, so the table reveals no link."""

    __tablename__ = "signin_tokens"

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = _fk("agents.id", nullable=False, ondelete="CASCADE")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    expires_at: Mapped[timestamp]
    used_at: Mapped[datetime | None]


class Counter(Base):
    """Named counters for databases without sequences (SQLite ticket numbers)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigId, default=0)


class InstallationSecret(Base):
    """One generation of the installation's signing secret (see ``store/secrets.py``).

    Generation 1 is made by whichever process first needs a secret; ``echodesk
    secret rotate`` adds the next, which signs from ``signs_from`` on while the
    older ones keep verifying for ``secret_grace_days``.
    """

    __tablename__ = "installation_secrets"

    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    signs_from: Mapped[timestamp]


class Blob(Base):
    """A value of the database blob store (``blob_store: database``): its key and size.

    Written after its chunks, in the same transaction: a reader that finds
    the row finds every chunk; one that does not, finds nothing.
    """

    __tablename__ = "blobs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigId)
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class BlobChunk(Base):
    """One slice (1 MiB) of a :class:`Blob`'s bytes, in order of ``seq``."""

    __tablename__ = "blob_chunks"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


__all__ = [
    "Agent",
    "AgentAlias",
    "Attachment",
    "AuditLog",
    "Base",
    "Blob",
    "BlobChunk",
    "Counter",
    "Customer",
    "ImapState",
    "InboundSpool",
    "InstallationSecret",
    "Message",
    "MessageReference",
    "Outbox",
    "SigninToken",
    "Ticket",
    "TicketParticipant",
    "TicketTag",
]


class ConnectorHealth(Base):
    """How one connector (an IMAP mailbox, the outbound relay) has been doing lately.

    Written by whichever process runs the connector, after every pass (see
    ``store/connectors.py``), so ``echodesk status``, the archive and the
    alerts see it from any machine.
    """

    __tablename__ = "connector_health"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[text] = mapped_column(default="")
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the current run of failures began (None while it works).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)


class TicketFollower(Base):
    """An agent's ``#follow`` (or ``#unfollow``) of a ticket: whether colleagues' replies
    to the customer reach them. Without a row, the assignee and earlier repliers follow."""

    __tablename__ = "ticket_followers"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    following: Mapped[bool] = mapped_column(Boolean, default=True)


class HeldDraft(Base):
    """An agent's reply held back by the collision guard: sent on ``#send``, dropped on
    ``#discard``, replaced by a newer answer, or dropped after ``held_draft_days``."""

    __tablename__ = "held_drafts"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    #: The text for the customer (saved replies in it, their variables not yet filled in).
    body: Mapped[text] = mapped_column(default="")
    #: Command lines held with it (they would have undone a colleague's newer change).
    lines: Mapped[text] = mapped_column(default="")
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)


class Reminder(Base):
    """An agent's ``#remind``: mail them about a ticket at a time, once."""

    __tablename__ = "reminders"

    id: Mapped[intpk]
    ticket_id: Mapped[int] = _fk("tickets.id", nullable=False)
    agent_id: Mapped[int] = _fk("agents.id", nullable=False)
    due_at: Mapped[timestamp]
    text: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[timestamp] = mapped_column(default=utcnow)
    #: When it was mailed (set by the one process whose claim won).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_reminders_sent_due", "sent_at", "due_at"),)


class TicketSla(Base):
    """A ticket's SLA clocks under its policy: what is spent, when each target is due.

    Two clocks run at once: the response clock (the first response, then each
    next response) and the resolution clock. While the ticket is pending both
    stop (``running_since`` is empty and the due times with it); what each had
    spent is kept in seconds of the policy's clock. A stage per clock says
    which notice went out (1 warning, 2 breach), so each goes once;
    ``alert_at`` is the next moment the sweep has something to send.
    """

    __tablename__ = "ticket_sla"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(String(100))
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: first_response, next_response, or '' while no response is awaited.
    response_target: Mapped[str] = mapped_column(String(20), default="")
    response_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_spent: Mapped[float] = mapped_column(Float, default=0.0)
    response_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_stage: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Whether the resolution clock runs at all (the policy sets it, the ticket is unresolved).
    resolution_open: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_spent: Mapped[float] = mapped_column(Float, default=0.0)
    resolution_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution_stage: Mapped[int] = mapped_column(SmallInteger, default=0)
    alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_ticket_sla_alert_at", "alert_at"),
        Index("ix_ticket_sla_response_due", "response_due"),
        Index("ix_ticket_sla_resolution_due", "resolution_due"),
    )


class SlaResult(Base):
    """One target met, in time or late: what reports count SLA attainment from."""

    __tablename__ = "sla_results"

    id: Mapped[intpk]
    ticket_id: Mapped[int] = _fk("tickets.id", nullable=False, ondelete="CASCADE")
    policy: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    met_at: Mapped[timestamp]
    in_time: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_sla_results_ticket_id", "ticket_id"),
        Index("ix_sla_results_met_at", "met_at"),
    )


class Rating(Base):
    """A customer's rating of the help on a ticket (good, okay, bad), with a comment."""

    __tablename__ = "ratings"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[text] = mapped_column(default="")
    #: When first given: it may be changed for ``satisfaction_change_days`` after.
    rated_at: Mapped[timestamp]
    changed_at: Mapped[timestamp]

    __table_args__ = (Index("ix_ratings_rating", "rating"),)


class OAuthGrant(Base):
    """One OAuth2 application's consent: its tokens, sealed, and whether it still works.

    One row per ``oauth`` setting entry, shared by every mailbox and the relay
    that sign in through it, on every machine. The tokens are encrypted with a
    key derived from the installation secret (see ``store/oauth.py``).
    """

    __tablename__ = "oauth_grants"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: "connected" or "needs_consent" (refused by the provider: a person must connect again).
    state: Mapped[str] = mapped_column(String(20))
    refresh_token: Mapped[text] = mapped_column(default="")
    access_token: Mapped[text] = mapped_column(default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it needs consent, in the provider's words.
    error: Mapped[text] = mapped_column(default="")
    consented_at: Mapped[timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[timestamp] = mapped_column(default=utcnow)


class Alert(Base):
    """One incident Echo has told the admins about (see ``store/alerts.py``).

    The row is the claim: of several processes that find the same trouble, the
    one whose insert (or reopening) succeeds sends the alert, and the one whose
    clearing succeeds sends the recovery.
    """

    __tablename__ = "alerts"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    detail: Mapped[text] = mapped_column(default="")
    opened_at: Mapped[timestamp] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]
