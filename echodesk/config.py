"""Typed settings: one YAML file plus ``ECHODESK_*`` environment overrides.

The :class:`Settings` dataclass is the schema: every key is documented next to
its default. :func:`load` is the only place that reads the file and the
environment; the result is passed explicitly to whoever needs it (there is no
global configuration object).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from echodesk.errors import ConfigError
from echodesk.statuses import PRIORITIES, Status

ENV_PREFIX = "ECHODESK_"
DEFAULT_CONFIG = "echodesk.yaml"
DEFAULT_DATA_DIR = "echodesk-data"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox Echo fetches mail from (setting ``imap``, a list of these)."""

    name: str = field(metadata=_doc("A short name, unique among the accounts (logs, cursor)."))
    host: str = field(metadata=_doc("IMAP server host name."))
    user: str = field(metadata=_doc("Login name."))
    port: int = field(default=993, metadata=_doc("Port: 993 with tls, 143 otherwise."))
    tls: bool = field(default=True, metadata=_doc("Implicit TLS (IMAPS)."))
    starttls: bool = field(
        default=False, metadata=_doc("Upgrade with STARTTLS; never falls back to plain text.")
    )
    password: str = field(
        default="", repr=False, metadata=_doc("The password, or use password_env.")
    )
    password_env: str = field(
        default="", metadata=_doc("Environment variable holding the password.")
    )
    folder: str = field(default="INBOX", metadata=_doc("Folder to fetch from."))
    processed_folder: str = field(
        default="", metadata=_doc("Move fetched mail here instead of flagging it \\Seen.")
    )
    quiet_alert_after: int = field(
        default=0,
        metadata=_doc(
            "Minutes without any mail from this mailbox after which a person is told "
            "(a mailbox that always gets mail and suddenly gets none); 0: never."
        ),
    )
    oauth: str = field(
        default="",
        metadata=_doc(
            "Sign in with OAuth2 instead of a password: the name of an 'oauth' entry "
            "(echodesk connect NAME gives it its consent once)."
        ),
    )
    sasl: str = field(
        default="xoauth2", metadata=_doc("With oauth: the SASL mechanism, xoauth2 or oauthbearer.")
    )

    @property
    def connector(self) -> str:
        """The mailbox's name in health records and alerts: ``imap:name/folder``."""
        return f"imap:{self.name}/{self.folder}"


@dataclass(frozen=True)
class RelaySettings:
    """The SMTP server outgoing mail is handed to (setting ``relay``).

    Without one, outgoing mail is written as .eml files into ``<data_dir>/outbox``.
    """

    host: str = field(metadata=_doc("Relay host name."))
    port: int = field(
        default=0, metadata=_doc("Port; default 465 with tls, 587 with starttls, else 25.")
    )
    starttls: bool = field(
        default=False, metadata=_doc("Upgrade with STARTTLS; never falls back to plain text.")
    )
    tls: bool = field(default=False, metadata=_doc("Implicit TLS (SMTPS, port 465)."))
    user: str = field(default="", metadata=_doc("Login name, if the relay wants one."))
    password: str = field(
        default="", repr=False, metadata=_doc("The password, or use password_env.")
    )
    password_env: str = field(
        default="", metadata=_doc("Environment variable holding the password.")
    )
    timeout: int = field(default=30, metadata=_doc("Seconds to wait for the relay."))
    oauth: str = field(
        default="",
        metadata=_doc("Sign in with OAuth2 as 'user': the name of an 'oauth' entry."),
    )
    sasl: str = field(
        default="xoauth2", metadata=_doc("With oauth: the SASL mechanism, xoauth2 or oauthbearer.")
    )

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 465 if self.tls else 587 if self.starttls else 25


#: The OAuth2 providers Echo knows the endpoints of; "generic" takes them from settings.
OAUTH_PROVIDERS = ("microsoft", "google", "generic")
SASL_MECHANISMS = ("xoauth2", "oauthbearer")


@dataclass(frozen=True)
class OAuthClient:
    """An OAuth2 application mailboxes and the relay sign in through (setting ``oauth``).

    The endpoints and scopes of ``microsoft`` and ``google`` are known; any
    of them given here replaces the known one. One consent (``echodesk
    connect NAME``) serves every mailbox and the relay that name this entry.
    """

    name: str = field(metadata=_doc("A short name, unique among the entries (echodesk connect)."))
    provider: str = field(metadata=_doc("microsoft, google or generic."))
    client_id: str = field(metadata=_doc("The application (client) id registered there."))
    client_secret: str = field(
        default="", repr=False, metadata=_doc("Its secret, if it has one (or client_secret_env).")
    )
    client_secret_env: str = field(
        default="", metadata=_doc("Environment variable holding the client secret.")
    )
    tenant: str = field(
        default="organizations",
        metadata=_doc("microsoft: the directory (tenant id or domain) the mailbox belongs to."),
    )
    token_url: str = field(default="", metadata=_doc("Token endpoint (generic: required)."))
    device_url: str = field(
        default="", metadata=_doc("Device-authorization endpoint: consent with a code.")
    )
    authorize_url: str = field(
        default="", metadata=_doc("Authorization endpoint: consent in a browser (PKCE).")
    )
    scopes: tuple[str, ...] = field(
        default=(), metadata=_doc("Scopes asked for; empty: the provider's mail scopes.")
    )
    redirect_port: int = field(
        default=0,
        metadata=_doc("Loopback port of the browser consent's redirect; 0: any free port."),
    )
    timeout: int = field(default=30, metadata=_doc("Seconds to wait for the provider."))


#: The targets an SLA policy may set, in the order a ticket meets them.
SLA_TARGETS = ("first_response", "next_response", "resolution")
#: The clocks an SLA policy may run on.
SLA_CLOCKS = ("business", "calendar")
_DURATION_PART = re.compile(r"\s*(\d{1,6})\s*(m|min|h|d)\s*", re.I)
_DURATION_UNIT = {"m": 60, "min": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """``4h``, ``90m``, ``1d 4h`` as seconds (``d`` is 24 hours of the policy's clock);
    ValueError for anything else."""
    parts = _DURATION_PART.findall(text)
    if not text.strip() or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s", "", text):
        raise ValueError(f"not a duration: {text!r} (write 30m, 4h, 2d or 1d 4h)")
    return sum(int(n) * _DURATION_UNIT[u.lower()] for n, u in parts)


@dataclass(frozen=True)
class SlaPolicy:
    """Response and resolution targets for the tickets it matches (setting ``sla``).

    A policy matches a ticket when every condition it names holds (``priority``,
    ``tag``); the first matching policy in the list applies, so a policy with
    no condition, last, is the default. Targets are durations on the policy's
    clock: ``business`` counts only the desk's ``business_hours`` (in its
    ``timezone``), ``calendar`` every hour. Every clock stops while the ticket
    is pending (waiting on the customer).
    """

    name: str = field(metadata=_doc("A short name, unique among the policies."))
    priority: str = field(default="", metadata=_doc("Only tickets of this priority."))
    tag: str = field(default="", metadata=_doc("Only tickets with this tag."))
    first_response: str = field(
        default="", metadata=_doc("Time to the first reply to the customer (4h, 1d 2h).")
    )
    next_response: str = field(
        default="", metadata=_doc("Time to answer each later customer message.")
    )
    resolution: str = field(default="", metadata=_doc("Time to resolve the ticket."))
    hours: str = field(default="business", metadata=_doc("business or calendar."))

    @property
    def targets(self) -> dict[str, int]:
        """The targets this policy sets, in seconds of its clock."""
        return {
            name: duration_seconds(text) for name in SLA_TARGETS if (text := getattr(self, name))
        }


@dataclass(frozen=True)
class Settings:
    """Every setting Echo reads, with its default and meaning."""

    data_dir: Path = field(
        default=Path(DEFAULT_DATA_DIR),
        metadata=_doc("Folder for the SQLite file, attachments and outgoing .eml files."),
    )
    database_url: str = field(
        default="",
        metadata=_doc(
            "SQLAlchemy URL. Empty: a SQLite file in data_dir. DATABASE_URL (as hosting "
            "platforms set it, postgres:// included) is honoured too."
        ),
    )
    support_address: str = field(
        default="support@localhost",
        metadata=_doc("The address customers write to; From of every outgoing reply."),
    )
    domains: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Mail domains Echo serves; empty means the support address's domain."),
    )
    ticket_prefix: str = field(
        default="TKT", metadata=_doc("Ticket number prefix, as in [TKT-0042].")
    )
    ticket_number_width: int = field(
        default=4, metadata=_doc("Digits of a ticket number (zero-padded, grows past it).")
    )
    closed_reply: str = field(
        default="followup",
        metadata=_doc(
            "What a customer reply to a closed ticket does: 'reopen' it, or open a "
            "'followup' ticket linked to it."
        ),
    )
    spool_max_attempts: int = field(
        default=5, metadata=_doc("Processing attempts before a spool row stays 'failed'.")
    )
    spool_retry_seconds: int = field(
        default=30, metadata=_doc("First retry delay; doubles with every failed attempt.")
    )
    spool_inline_limit: int = field(
        default=1024 * 1024,
        metadata=_doc("Raw messages larger than this (bytes) go to the blob store, not rows."),
    )
    blob_store: str = field(
        default="",
        metadata=_doc(
            "Where attachments and large raw mail are kept: 'local' (<data_dir>/blobs), "
            "'database' (a table of the database) or 's3://BUCKET/PREFIX'. Empty: local "
            "with SQLite, database with PostgreSQL."
        ),
    )
    data_dir_shared: bool = field(
        default=False,
        metadata=_doc(
            "data_dir is on storage every Echo process mounts (NFS, a shared volume): "
            "allows blob_store 'local' with PostgreSQL."
        ),
    )
    s3_endpoint_url: str = field(
        default="",
        metadata=_doc(
            "S3-compatible endpoint (Cloudflare R2, MinIO); empty: AWS (or AWS_ENDPOINT_URL)."
        ),
    )
    s3_region: str = field(
        default="", metadata=_doc("S3 region; empty: AWS_REGION / AWS_DEFAULT_REGION.")
    )
    s3_access_key_id: str = field(
        default="", metadata=_doc("S3 access key; empty: AWS_ACCESS_KEY_ID or AWS's other sources.")
    )
    s3_secret_access_key: str = field(
        default="",
        repr=False,
        metadata=_doc("S3 secret key; empty: AWS_SECRET_ACCESS_KEY or AWS's other sources."),
    )
    s3_addressing_style: str = field(
        default="auto",
        metadata=_doc("S3 bucket addressing: auto, path (MinIO, most others) or virtual."),
    )
    smtp_listen: str = field(
        default="127.0.0.1:2525", metadata=_doc("HOST:PORT the SMTP receiver listens on.")
    )
    max_message_size: int = field(
        default=25 * 1024 * 1024,
        metadata=_doc("Largest message accepted, in bytes (announced in EHLO SIZE; 552 above)."),
    )
    smtp_tls_cert: str = field(
        default="", metadata=_doc("PEM certificate for STARTTLS (with smtp_tls_key).")
    )
    smtp_tls_key: str = field(default="", metadata=_doc("PEM private key for STARTTLS."))
    smtp_timeout: int = field(
        default=300, metadata=_doc("Seconds an idle or slow SMTP client may keep a connection.")
    )
    imap: tuple[ImapAccount, ...] = field(
        default=(), metadata=_doc("Mailboxes to fetch mail from (a list of accounts).")
    )
    imap_poll_seconds: int = field(
        default=60, metadata=_doc("Polling interval for servers without IDLE.")
    )
    spool_report_seconds: int = field(
        default=300, metadata=_doc("How often serve and worker log the spool's state.")
    )
    worker_batch: int = field(
        default=100, metadata=_doc("Spool rows a worker claims and commits together.")
    )
    import_batch: int = field(
        default=500, metadata=_doc("Messages echodesk ingest decides and writes together.")
    )
    support_name: str = field(
        default="Support", metadata=_doc("Display name in From of outgoing mail.")
    )
    mail_domain: str = field(
        default="",
        metadata=_doc(
            "Domain of outgoing Message-IDs and of the bounce address; empty means the "
            "support address's domain."
        ),
    )
    bounce_local_part: str = field(
        default="bounces",
        metadata=_doc("Envelope sender of outgoing mail: <this>+<outbox id>-<signature>@domain."),
    )
    secret: str = field(
        default="",
        repr=False,
        metadata=_doc(
            "Signs reply and bounce addresses, notification Message-IDs and web sessions. "
            "Empty: generated once and kept in the database (echodesk secret rotate)."
        ),
    )
    secret_grace_days: float = field(
        default=30.0,
        metadata=_doc(
            "Days a secret replaced by 'echodesk secret rotate' still verifies what it signed."
        ),
    )
    multi_machine: bool = field(
        default=False,
        metadata=_doc(
            "Echo runs on several machines, or on hosts whose disk does not last (Heroku "
            "dynos, containers; on by default where DYNO is set): serve, worker and web "
            "refuse to start without what that needs (PostgreSQL, a relay, web_url). "
            "Off, the same checks only warn on PostgreSQL."
        ),
    )
    oauth: tuple[OAuthClient, ...] = field(
        default=(),
        metadata=_doc("OAuth2 applications that 'imap' accounts and the 'relay' sign in with."),
    )
    relay: RelaySettings | None = field(
        default=None,
        metadata=_doc("SMTP relay for outgoing mail; none: .eml files in <data_dir>/outbox."),
    )
    outbox_max_attempts: int = field(
        default=8, metadata=_doc("Delivery attempts (4xx, connection errors) before 'failed'.")
    )
    outbox_retry_seconds: int = field(
        default=60, metadata=_doc("First delivery retry delay; doubles with every attempt.")
    )
    status_after_reply: str = field(
        default="pending",
        metadata=_doc("Status a ticket takes when an agent replies: open, pending or resolved."),
    )
    acknowledgement: str = field(
        default="",
        metadata=_doc(
            "Text sent to the customer when a new ticket opens ($ticket, $subject, $name); "
            "empty: none."
        ),
    )
    acknowledgement_limit: int = field(
        default=5, metadata=_doc("Acknowledgements sent to one address in 24 hours at most.")
    )
    autoclose_days: int = field(
        default=14,
        metadata=_doc("Close tickets pending this many days without a customer reply; 0: never."),
    )
    autoclose_notice: str = field(
        default=(
            "We have not heard back from you, so we have closed ticket $ticket. "
            "Just reply to this message if you still need help."
        ),
        metadata=_doc("Text sent to the customer when a ticket is auto-closed; empty: none."),
    )
    satisfaction: bool = field(
        default=False,
        metadata=_doc(
            "Ask the customer to rate the help (good / okay / bad links) when a ticket is "
            "resolved or auto-closed."
        ),
    )
    satisfaction_text: str = field(
        default=("How did we do? One click tells us:\n  Good: $good\n  Okay: $okay\n  Bad:  $bad"),
        metadata=_doc("The rating request under that mail; $good, $okay and $bad are the links."),
    )
    satisfaction_change_days: int = field(
        default=7, metadata=_doc("Days a customer may change a rating once given.")
    )
    trusted_authserv_ids: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Receiving hosts whose Authentication-Results headers count beside Echo's own "
            "(RFC 8601 authserv-id), e.g. mx.google.com for a Gmail mailbox Echo polls; "
            "only the topmost header of each counts."
        ),
    )
    authserv_id: str = field(
        default="",
        metadata=_doc(
            "The name under which Echo writes its own Authentication-Results; the same on "
            "every machine. Empty: echodesk.<mail domain>."
        ),
    )
    verify_mail: bool = field(
        default=True,
        metadata=_doc(
            "Check DKIM, SPF (SMTP only) and DMARC of mail received by SMTP, IMAP or webhook, "
            "and record the result on the message."
        ),
    )
    dns_resolver: str = field(
        default="",
        metadata=_doc("DNS server for those checks, HOST or HOST:PORT; empty: the system's."),
    )
    dns_timeout: float = field(
        default=3.0, metadata=_doc("Seconds a DNS look-up may take before it is a temperror.")
    )
    smtp_trusted_relays: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Addresses (or networks) of mail servers that hand mail on to Echo's SMTP "
            "receiver: from them SPF is not checked and trusted hosts' headers count; "
            "from anyone else Echo is the receiving host."
        ),
    )
    agent_auth: str = field(
        default="dmarc",
        metadata=_doc(
            "What an agent's mail needs besides its signature before its commands run: "
            "'dmarc' (DMARC or aligned DKIM pass, from Echo or a trusted host) or "
            "'signature-only' (only no failure; a forged From with a stolen signed "
            "address is then enough)."
        ),
    )
    rules_file: Path = field(
        default=Path("rules.yaml"),
        metadata=_doc("Routing rules (YAML); a relative path is beside the settings file."),
    )
    replies_file: Path = field(
        default=Path("replies.yaml"),
        metadata=_doc(
            "Saved replies (#reply NAME; YAML); a relative path is beside the settings file."
        ),
    )
    timezone: str = field(
        default="UTC", metadata=_doc("Timezone of business hours and rule times (IANA name).")
    )
    business_hours: str = field(
        default="mon-fri 09:00-17:00",
        metadata=_doc("Days and hours for rules' business_hours, SLA business time and #snooze."),
    )
    spam_threshold: float = field(
        default=5.0, metadata=_doc("Mail scored above this (X-Spam-Score etc.) is quarantined.")
    )
    spam_header: str = field(
        default="", metadata=_doc("A further header holding a numeric spam score.")
    )
    flood_limit: int = field(
        default=10,
        metadata=_doc("New tickets one address may open in 24 hours; more are quarantined."),
    )
    web_listen: str = field(
        default="127.0.0.1:8025", metadata=_doc("HOST:PORT the web archive listens on.")
    )
    web_prefix: str = field(
        default="/", metadata=_doc("URL prefix of the web archive, such as /tickets.")
    )
    web_url: str = field(
        default="",
        metadata=_doc(
            "Public address of the web archive for sign-in links (https://desk.example.com"
            "/tickets); empty: http://<web_listen><web_prefix>."
        ),
    )
    api_token: str = field(
        default="", repr=False, metadata=_doc("Bearer token for the read-only JSON API.")
    )
    webhook_token: str = field(
        default="",
        repr=False,
        metadata=_doc("Secret of the inbound-mail and bounce webhooks (Basic password or Bearer)."),
    )
    snapshot_token: str = field(
        default="", repr=False, metadata=_doc("Bearer token of POST /from-snapshot.")
    )
    admin_addresses: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "Who is mailed when something needs a person (a mailbox or the relay failing, "
            "failed rows), once per incident and once when it clears."
        ),
    )
    held_draft_days: int = field(
        default=7,
        metadata=_doc(
            "Days a reply held by the collision guard waits for #send before it is dropped."
        ),
    )
    sla: tuple[SlaPolicy, ...] = field(
        default=(),
        metadata=_doc(
            "SLA policies: name, priority and/or tag, first_response, next_response, "
            "resolution, hours (business or calendar); the first that matches applies."
        ),
    )
    sla_warn_percent: int = field(
        default=80,
        metadata=_doc("Share of an SLA target (percent) at which the warning goes out."),
    )
    sla_check_seconds: int = field(
        default=30, metadata=_doc("How often SLA due times are looked at.")
    )
    wakeup_check_seconds: int = field(
        default=30, metadata=_doc("How often snoozed tickets and reminders are looked at.")
    )
    alert_check_seconds: int = field(
        default=60, metadata=_doc("How often each process looks for incidents to alert on.")
    )
    alert_after: int = field(
        default=15,
        metadata=_doc(
            "Minutes a mailbox or the relay may keep failing before it needs a person "
            "(echodesk status, /metrics); 0: at once."
        ),
    )
    metrics_token: str = field(
        default="",
        repr=False,
        metadata=_doc("Bearer token of GET /metrics (Prometheus); empty: /metrics answers 404."),
    )
    metrics_listen: str = field(
        default="",
        metadata=_doc(
            "HOST:PORT where serve, worker and web also answer GET /metrics alone (for a "
            "worker that serves no web, or a private network); empty: none."
        ),
    )
    snapshot_max_bytes: int = field(
        default=1024 * 1024, metadata=_doc("Largest snapshot JSON accepted, in bytes (413 above).")
    )
    web_trusted_header: str = field(
        default="",
        metadata=_doc(
            "Header an access proxy sets to the signed-in email "
            "(Cf-Access-Authenticated-User-Email); empty: sign-in by emailed link."
        ),
    )
    web_trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Addresses (or networks) of that proxy; the header counts only from them."),
    )
    notify_unassigned: tuple[str, ...] = field(
        default=(),
        metadata=_doc("Agents notified about unassigned tickets; empty: every active agent."),
    )
    autoclose_check_seconds: int = field(
        default=3600, metadata=_doc("How often the auto-close job looks for tickets.")
    )
    spool_keep_days: int = field(
        default=30,
        metadata=_doc("Days the raw bytes of received mail are kept once processed; 0: forever."),
    )
    audit_live_days: int = field(
        default=90,
        metadata=_doc("Days audit rows stay in the live trail before the archive; 0: forever."),
    )
    audit_archive_days: int = field(
        default=2557,
        metadata=_doc("Days archived audit rows are kept (default 7 years); 0: forever."),
    )
    retention_check_seconds: int = field(
        default=3600, metadata=_doc("How often the retention job runs.")
    )

    @property
    def served_domains(self) -> tuple[str, ...]:
        if self.domains:
            return tuple(d.lower() for d in self.domains)
        return (self.support_address.rpartition("@")[2].lower() or "localhost",)

    def ticket_label(self, number: int) -> str:
        """``TKT-0042`` for ticket number 42 (prefix and width from settings)."""
        return f"{self.ticket_prefix}-{number:0{self.ticket_number_width}d}"

    def parse_ticket_label(self, label: str) -> int | None:
        """42 for ``TKT-0042``, ``tkt-42`` or ``42``; None if it is not a ticket number."""
        text = label.strip()
        head, sep, tail = text.rpartition("-")
        if sep and head.lower() != self.ticket_prefix.lower():
            return None
        digits = tail if sep else text
        return int(digits) if digits.isdigit() and len(digits) <= 12 else None

    @property
    def own_authserv_id(self) -> str:
        """The authserv-id of Echo's own Authentication-Results headers."""
        return (self.authserv_id or f"echodesk.{self.outgoing_domain}").lower()

    @property
    def outgoing_domain(self) -> str:
        return (self.mail_domain or self.support_address.rpartition("@")[2]).lower()

    @property
    def public_web_url(self) -> str:
        """Where people reach the web archive (sign-in links point here)."""
        if self.web_url:
            return self.web_url.rstrip("/")
        prefix = self.web_prefix.rstrip("/")
        return f"http://{self.web_listen}{prefix}"

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'echodesk.db').resolve()}"

    @property
    def uses_postgres(self) -> bool:
        return self.effective_database_url().strip().startswith(("postgres:", "postgresql"))

    def effective_blob_store(self) -> str:
        """'local', 'database' or 's3://BUCKET/PREFIX': the setting, or the database's default."""
        if self.blob_store:
            return self.blob_store
        return "database" if self.uses_postgres else "local"


CLOSED_REPLY_CHOICES = ("reopen", "followup")
#: An agent's reply may leave a ticket open, pending or resolved; closing takes a command.
STATUS_AFTER_REPLY_CHOICES = tuple(s.value for s in Status if s is not Status.CLOSED)
AGENT_AUTH_CHOICES = ("dmarc", "signature-only")
S3_ADDRESSING_CHOICES = ("auto", "path", "virtual")
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _coerce(name: str, hint: Any, value: Any, origin: str) -> Any:
    """Turn a YAML or environment value into the field's type, or say what is wrong."""
    where = f"setting '{name}' (from {origin})"
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    for nested, parse in _NESTED:
        if hint == nested:
            return parse(name, value, origin)
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of text, got {value!r}")
        return tuple(value)
    raise ConfigError(f"{where}: unsupported type {hint!r}")  # pragma: no cover


def _yaml_text(name: str, value: Any, origin: str) -> Any:
    """Structured settings given as text (an environment variable): YAML or JSON."""
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(f"setting '{name}' (from {origin}): unreadable: {exc}") from exc


def _mapping_fields(cls: type[Any], where: str, entry: Any, origin: str) -> dict[str, Any]:
    """Coerce one mapping of a nested settings dataclass, naming any bad key."""
    if not isinstance(entry, dict):
        raise ConfigError(f"setting '{where}' (from {origin}): expected a mapping")
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for key, item in entry.items():
        if key not in hints:
            raise ConfigError(f"setting '{where}' (from {origin}): unknown key '{key}'")
        fields[key] = _coerce(f"{where}.{key}", hints[key], item, origin)
    return fields


def _relay(name: str, value: Any, origin: str) -> RelaySettings | None:
    """The ``relay`` mapping (YAML, or YAML/JSON text from the environment)."""
    value = _yaml_text(name, value, origin)
    if value is None or value == "":
        return None
    fields = _mapping_fields(RelaySettings, name, value, origin)
    if not fields.get("host"):
        raise ConfigError(f"setting '{name}.host' (from {origin}): required")
    if fields.get("tls") and fields.get("starttls"):
        raise ConfigError(f"setting '{name}' (from {origin}): tls and starttls exclude each other")
    return RelaySettings(**fields)


def _entries(
    name: str, value: Any, origin: str, cls: type[Any], what: str
) -> list[tuple[str, dict[str, Any]]]:
    """A list setting of mappings (YAML, or YAML/JSON text): each entry's place and keys."""
    value = _yaml_text(name, value, origin) or []
    if not isinstance(value, list):
        raise ConfigError(f"setting '{name}' (from {origin}): expected a list of {what}")
    return [
        (f"{name}[{index}]", _mapping_fields(cls, f"{name}[{index}]", entry, origin))
        for index, entry in enumerate(value)
    ]


def _required(where: str, fields: dict[str, Any], keys: tuple[str, ...], origin: str) -> None:
    for key in keys:
        if not fields.get(key):
            raise ConfigError(f"setting '{where}.{key}' (from {origin}): required")


def _unique_names(name: str, origin: str, items: tuple[Any, ...], what: str) -> None:
    names = [item.name for item in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"setting '{name}' (from {origin}): {what} must be unique")


def _oauth_clients(name: str, value: Any, origin: str) -> tuple[OAuthClient, ...]:
    """The ``oauth`` list: each entry a mapping of OAuthClient keys."""
    clients = []
    for where, fields in _entries(name, value, origin, OAuthClient, "applications"):
        _required(where, fields, ("name", "provider", "client_id"), origin)
        if fields["provider"] not in OAUTH_PROVIDERS:
            raise ConfigError(
                f"setting '{where}.provider' (from {origin}): expected one of "
                f"{', '.join(OAUTH_PROVIDERS)}, got {fields['provider']!r}"
            )
        if fields["provider"] == "generic" and not fields.get("token_url"):
            raise ConfigError(f"setting '{where}.token_url' (from {origin}): required for generic")
        clients.append(OAuthClient(**fields))
    _unique_names(name, origin, tuple(clients), "names")
    return tuple(clients)


def _imap_accounts(name: str, value: Any, origin: str) -> tuple[ImapAccount, ...]:
    """The ``imap`` list: each entry a mapping of ImapAccount keys."""
    accounts = []
    for where, fields in _entries(name, value, origin, ImapAccount, "accounts"):
        if fields.get("starttls") and "tls" not in fields:
            fields["tls"] = False  # STARTTLS upgrades a plain connection
        if not fields.get("tls", True) and "port" not in fields:
            fields["port"] = 143
        _required(where, fields, ("name", "host", "user"), origin)
        accounts.append(ImapAccount(**fields))
    _unique_names(name, origin, tuple(accounts), "account names")
    return tuple(accounts)


def _sla_policies(name: str, value: Any, origin: str) -> tuple[SlaPolicy, ...]:
    """The ``sla`` list: each entry a policy with at least one target, every duration read."""
    policies = []
    for where, fields in _entries(name, value, origin, SlaPolicy, "policies"):
        _required(where, fields, ("name",), origin)
        problem = _sla_problem(fields)
        if problem:
            raise ConfigError(f"setting '{where}' (from {origin}): {problem}")
        policies.append(SlaPolicy(**fields))
    _unique_names(name, origin, tuple(policies), "policy names")
    return tuple(policies)


def _sla_problem(fields: dict[str, Any]) -> str:
    """What is wrong with one SLA policy's keys ('' when nothing)."""
    if not any(fields.get(target) for target in SLA_TARGETS):
        return f"set at least one of {', '.join(SLA_TARGETS)}"
    for target in SLA_TARGETS:
        try:
            if fields.get(target) and duration_seconds(str(fields[target])) <= 0:
                return f"{target}: must be longer than nothing"
        except ValueError as exc:
            return f"{target}: {exc}"
    if fields.get("hours", "business") not in SLA_CLOCKS:
        return f"hours: expected one of {', '.join(SLA_CLOCKS)}, got {fields['hours']!r}"
    if fields.get("priority", "") not in ("", *PRIORITIES):
        return f"priority: expected one of {', '.join(PRIORITIES)}, got {fields['priority']!r}"
    return ""


#: Settings that hold mappings of their own, and the function that reads each.
_NESTED: tuple[tuple[Any, Any], ...] = (
    (tuple[ImapAccount, ...], _imap_accounts),
    (RelaySettings | None, _relay),
    (tuple[OAuthClient, ...], _oauth_clients),
    (tuple[SlaPolicy, ...], _sla_policies),
)


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"settings file {path} is not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"settings file {path}{pos}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path}: expected a mapping of keys to values")
    return data


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (or ECHODESK_CONFIG / ./echodesk.yaml) and the environment.

    A missing default file is fine (the embedded defaults apply); a file named
    explicitly must exist. Unknown keys, wrong types and broken YAML raise
    :class:`ConfigError` naming the key or the line.
    """
    env = dict(os.environ if environ is None else environ)
    explicit = path is not None or f"{ENV_PREFIX}CONFIG" in env
    cfg_path = path or Path(env.get(f"{ENV_PREFIX}CONFIG", DEFAULT_CONFIG))
    raw: dict[str, Any] = {}
    if cfg_path.exists() or explicit:
        raw = _read_yaml(cfg_path)
    types_ = _field_types()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in types_:
            raise ConfigError(f"settings file {cfg_path}: unknown key '{key}'")
        values[key] = _coerce(key, types_[key], value, str(cfg_path))
    if env.get("DATABASE_URL"):
        values["database_url"] = env["DATABASE_URL"]
    if env.get("DYNO"):  # a Heroku dyno: its disk is gone at the next restart
        values.setdefault("multi_machine", True)
    for key, hint in types_.items():
        var = ENV_PREFIX + key.upper()
        if var in env:
            values[key] = _coerce(key, hint, env[var], var)
    for key, default in (("rules_file", "rules.yaml"), ("replies_file", "replies.yaml")):
        beside = values.get(key, Path(default))
        if not beside.is_absolute():
            values[key] = cfg_path.parent / beside
    if "imap" in values:
        values["imap"] = tuple(_with_password(a, env) for a in values["imap"])
    if values.get("relay") is not None:
        values["relay"] = _relay_password(values["relay"], env)
    if "oauth" in values:
        values["oauth"] = tuple(_client_secret(c, env) for c in values["oauth"])
    settings = Settings(**values)
    _validate(settings)
    return settings


_T = typing.TypeVar("_T", ImapAccount, RelaySettings, OAuthClient)


def _from_env(item: _T, key: str, where: str, env: Mapping[str, str]) -> _T:
    """Resolve ``<key>_env`` now, so a missing variable is a start-up error, not a failed
    login an hour later; a value written in the settings wins."""
    variable = getattr(item, f"{key}_env")
    if getattr(item, key) or not variable:
        return item
    if variable not in env:
        raise ConfigError(
            f"setting {where}: environment variable {variable} ({key}_env) is not set"
        )
    found: dict[str, Any] = {key: env[variable]}
    return dataclasses.replace(item, **found)


def _with_password(account: ImapAccount, env: Mapping[str, str]) -> ImapAccount:
    return _from_env(account, "password", f"'imap' account '{account.name}'", env)


def _client_secret(client: OAuthClient, env: Mapping[str, str]) -> OAuthClient:
    return _from_env(client, "client_secret", f"'oauth' entry '{client.name}'", env)


def _relay_password(relay: RelaySettings, env: Mapping[str, str]) -> RelaySettings:
    """Resolve the relay's ``password_env`` now; refuse a login sent in clear text."""
    relay = _from_env(relay, "password", "'relay'", env)
    loopback = relay.host in ("localhost", "::1") or relay.host.startswith("127.")
    if relay.user and not (relay.tls or relay.starttls or loopback):
        raise ConfigError(
            "setting 'relay': a login needs tls or starttls (the password would cross "
            "the network in clear text)"
        )
    return relay


def _validate(s: Settings) -> None:
    """Refuse settings Echo cannot run with, naming the setting and what it expects."""
    _validate_names(s)
    _validate_network(s)
    for key, choices in (
        ("closed_reply", CLOSED_REPLY_CHOICES),
        ("agent_auth", AGENT_AUTH_CHOICES),
        ("status_after_reply", STATUS_AFTER_REPLY_CHOICES),
    ):
        if getattr(s, key) not in choices:
            raise ConfigError(
                f"setting '{key}': expected one of {', '.join(choices)}, got {getattr(s, key)!r}"
            )
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"setting 'timezone': unknown timezone {s.timezone!r}") from None
    _validate_numbers(s)
    missing = [f"${k}" for k in ("good", "okay", "bad") if f"${k}" not in s.satisfaction_text]
    if s.satisfaction and missing:
        raise ConfigError(f"setting 'satisfaction_text': must hold {', '.join(missing)}")
    _validate_blob_store(s)
    _validate_oauth(s)


def _validate_oauth(s: Settings) -> None:
    """Every ``oauth`` a mailbox or the relay names exists, with a known SASL mechanism."""
    known = {c.name for c in s.oauth}
    users: list[tuple[str, str, str]] = [
        (f"imap account '{a.name}'", a.oauth, a.sasl) for a in s.imap
    ]
    if s.relay is not None:
        users.append(("relay", s.relay.oauth, s.relay.sasl))
    for where, name, sasl in users:
        if name and name not in known:
            raise ConfigError(
                f"setting {where}: oauth {name!r} is not an entry of setting 'oauth' "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
        if name and where == "relay" and s.relay is not None and not s.relay.user:
            raise ConfigError("setting 'relay': oauth needs 'user' (the mailbox that sends)")
        if sasl not in SASL_MECHANISMS:
            raise ConfigError(
                f"setting {where}: sasl expected one of {', '.join(SASL_MECHANISMS)}, got {sasl!r}"
            )


def _validate_names(s: Settings) -> None:
    """The addresses and names Echo writes into mail and ticket labels."""
    if "@" not in s.support_address:
        raise ConfigError(f"setting 'support_address': {s.support_address!r} is not an address")
    if not s.ticket_prefix or not s.ticket_prefix.replace("_", "").isalnum():
        raise ConfigError(
            f"setting 'ticket_prefix': letters and digits only, got {s.ticket_prefix!r}"
        )
    if not s.bounce_local_part or not s.bounce_local_part.replace("-", "").isalnum():
        raise ConfigError(
            f"setting 'bounce_local_part': letters, digits and '-' only, "
            f"got {s.bounce_local_part!r}"
        )


def _validate_network(s: Settings) -> None:
    """Where Echo listens, whom it trusts, and its TLS files."""
    for key in ("smtp_listen", "web_listen", "metrics_listen"):
        if key == "metrics_listen" and not s.metrics_listen:
            continue
        host, sep, port = getattr(s, key).rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"setting '{key}': expected HOST:PORT, got {getattr(s, key)!r}")
    if not s.web_prefix.startswith("/"):
        raise ConfigError(f"setting 'web_prefix': must start with '/', got {s.web_prefix!r}")
    if s.web_trusted_header and not s.web_trusted_proxies:
        raise ConfigError(
            "setting 'web_trusted_header' needs 'web_trusted_proxies' (the proxy's addresses): "
            "anyone else could send the header"
        )
    for key in ("web_trusted_proxies", "smtp_trusted_relays"):
        for proxy in getattr(s, key):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"setting '{key}': {proxy!r} is not an address") from None
    if bool(s.smtp_tls_cert) != bool(s.smtp_tls_key):
        raise ConfigError("settings 'smtp_tls_cert' and 'smtp_tls_key' go together")


def _validate_numbers(s: Settings) -> None:
    """Counts, limits and periods: none negative, and those that pace a loop at least 1."""
    if not 0 < s.dns_timeout <= 60:
        raise ConfigError(f"setting 'dns_timeout': seconds between 0 and 60, got {s.dns_timeout}")
    if s.flood_limit < 0 or s.spam_threshold < 0:
        raise ConfigError("settings 'flood_limit' and 'spam_threshold': not negative")
    if s.autoclose_days < 0 or s.acknowledgement_limit < 0:
        raise ConfigError("settings 'autoclose_days' and 'acknowledgement_limit': not negative")
    if not 1 <= s.sla_warn_percent <= 99:
        raise ConfigError(f"setting 'sla_warn_percent': between 1 and 99, got {s.sla_warn_percent}")
    if s.alert_after < 0:
        raise ConfigError("setting 'alert_after': a number of minutes, not negative")
    if s.secret_grace_days < 0:
        raise ConfigError("setting 'secret_grace_days': a number of days, not negative")
    for key in ("spool_keep_days", "audit_live_days", "audit_archive_days"):
        if getattr(s, key) < 0:
            raise ConfigError(f"setting '{key}': a number of days, not negative (0: forever)")
    for key in (
        "outbox_max_attempts",
        "outbox_retry_seconds",
        "autoclose_check_seconds",
        "retention_check_seconds",
        "ticket_number_width",
        "spool_max_attempts",
        "worker_batch",
        "import_batch",
        "max_message_size",
        "smtp_timeout",
        "imap_poll_seconds",
        "spool_report_seconds",
        "alert_check_seconds",
        "wakeup_check_seconds",
        "sla_check_seconds",
        "satisfaction_change_days",
        "held_draft_days",
    ):
        if getattr(s, key) < 1:
            raise ConfigError(f"setting '{key}': must be at least 1")


def _validate_blob_store(s: Settings) -> None:
    """A known kind of store; and never a machine's own disk under a shared database."""
    store = s.blob_store
    if store.startswith("s3://"):
        bucket = store[len("s3://") :].partition("/")[0]
        if not _S3_BUCKET.fullmatch(bucket):
            raise ConfigError(
                f"setting 'blob_store': {store!r} does not name a bucket (s3://BUCKET/PREFIX)"
            )
    elif store not in ("", "local", "database"):
        raise ConfigError(
            f"setting 'blob_store': expected local, database or s3://BUCKET/PREFIX, got {store!r}"
        )
    if s.s3_addressing_style not in S3_ADDRESSING_CHOICES:
        raise ConfigError(
            f"setting 's3_addressing_style': expected one of "
            f"{', '.join(S3_ADDRESSING_CHOICES)}, got {s.s3_addressing_style!r}"
        )
    if s.uses_postgres and s.effective_blob_store() == "local" and not s.data_dir_shared:
        raise ConfigError(
            f"setting 'blob_store': 'local' keeps attachments and large messages in "
            f"{s.data_dir / 'blobs'} on this machine's disk, but the PostgreSQL database is "
            "shared by every Echo process (web, worker, other machines): one could not read "
            "what another stored, and an ephemeral disk loses them on restart. Use "
            "'database' (the default with PostgreSQL) or 's3://BUCKET/PREFIX', or set "
            "data_dir_shared: true if data_dir is on storage every process mounts"
        )


__all__ = ["ImapAccount", "OAuthClient", "RelaySettings", "Settings", "load"]
