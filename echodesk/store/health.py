"""How the desk is doing, read from the database: one snapshot for every place that shows it.

``echodesk status``, the archive's health badge, ``/readyz`` and ``/metrics``
all read :func:`snapshot`, so they can never disagree. Everything comes from
the database (and a probe of the blob store), never from one process's
memory, so any process on any machine answers the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.errors import EchoError
from echodesk.store import connectors, oauth
from echodesk.store.blobs import BlobStore
from echodesk.store.connectors import Connector
from echodesk.store.db import Database
from echodesk.store.migrate import SCHEMA_HEAD, current_revision
from echodesk.store.models import InboundSpool, Outbox
from echodesk.store.types import utcnow

#: Spool states a person may need to look at; outbox states the same.
SPOOL_SHOWN = ("pending", "failed", "quarantined")
OUTBOX_SHOWN = ("queued", "failed", "suppressed")
#: How long a connector may fail before it needs a person (the ``alert_after`` default).
ALERT_AFTER = timedelta(minutes=15)
#: How old the oldest waiting row may be before it needs a person (seconds).
STUCK_AFTER = 15 * 60


@dataclass
class Queue:
    """Rows of one queue by state, and how long the oldest waiting row has waited."""

    counts: dict[str, int] = field(default_factory=dict)
    oldest_waiting_seconds: float | None = None


@dataclass
class Snapshot:
    database: str = "ok"
    migrations: str = "current"
    blobs: str = "ok"
    spool: Queue = field(default_factory=Queue)
    outbox: Queue = field(default_factory=Queue)
    connectors: list[Connector] = field(default_factory=list)
    #: Messages received, by how they came (smtp, imap, webhook, file), as the spool holds them.
    received: dict[str, int] = field(default_factory=dict)
    #: When each IMAP mailbox (``account/folder``) last brought a message.
    last_received: dict[str, datetime] = field(default_factory=dict)
    #: Each OAuth2 grant: (name, state, why it needs consent).
    grants: list[tuple[str, str, str]] = field(default_factory=list)
    #: What needs a person, in words, by a key that stays the same while it lasts.
    incidents: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """What needs a person, in words (empty when all is well)."""
        return list(self.incidents.values())

    @property
    def ready(self) -> bool:
        """Whether this process can serve: database reachable and current, blobs reachable."""
        return self.database == "ok" and self.migrations == "current" and self.blobs == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "migrations": self.migrations,
            "blobs": self.blobs,
            "spool": vars(self.spool),
            "outbox": vars(self.outbox),
            "connectors": [_connector(c) for c in self.connectors],
            "received": dict(self.received),
            "oauth": [{"name": n, "state": s, "error": e} for n, s, e in self.grants],
            "problems": list(self.problems),
            "ok": not self.problems,
        }


def snapshot_for(settings: Settings, db: Database, blobs: BlobStore | None = None) -> Snapshot:
    """The snapshot with the thresholds the settings give (``alert_after``, each mailbox's
    ``quiet_alert_after``): what ``status``, the web and the alert job all read."""
    quiet = {
        account.connector: timedelta(minutes=account.quiet_alert_after)
        for account in settings.imap
        if account.quiet_alert_after > 0
    }
    alert_after = timedelta(minutes=settings.alert_after)
    return snapshot(db, blobs, alert_after=alert_after, quiet_after=quiet)


def _connector(c: Connector) -> dict[str, Any]:
    return {
        "name": c.name,
        "kind": c.kind,
        "last_success_at": _iso(c.last_success_at),
        "last_error": c.last_error,
        "last_error_at": _iso(c.last_error_at),
        "failing_since": _iso(c.failing_since),
        "consecutive_failures": c.consecutive_failures,
        "moved_24h": c.moved_24h,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _queue(
    session: Session, model: Any, shown: tuple[str, ...], waiting: str, since: Any, now: datetime
) -> Queue:
    rows = session.execute(
        select(model.state, func.count()).where(model.state.in_(shown)).group_by(model.state)
    )
    counts = {state: 0 for state in shown} | {state: int(n) for state, n in rows}
    oldest = session.scalar(select(func.min(since)).where(model.state == waiting))
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    return Queue(counts, age)


def _blobs(blobs: BlobStore) -> str:
    """Probe the blob store by asking for a key that is never there."""
    try:
        blobs.exists("0" * 64)
    except Exception as exc:  # noqa: BLE001 - any failure of the store is the answer
        return f"unreachable: {exc}"
    return "ok"


def snapshot(
    db: Database,
    blobs: BlobStore | None = None,
    *,
    alert_after: timedelta = ALERT_AFTER,
    quiet_after: dict[str, timedelta] | None = None,
) -> Snapshot:
    """Read the desk's health; a database that cannot be reached is reported, not raised.

    A connector needs a person once it has failed without a success for
    ``alert_after``; a shorter run of failures is the network's weather.
    """
    found = Snapshot()
    now = utcnow()
    try:
        with db.reading() as session:
            session.execute(text("SELECT 1"))
        revision = current_revision(db)
    except (SQLAlchemyError, EchoError) as exc:
        found.database = f"unreachable: {_first_line(exc)}"
    else:
        if revision != SCHEMA_HEAD:
            found.migrations = f"at {revision or 'nothing'}, code needs {SCHEMA_HEAD}"
        else:
            _queues(db, found, now)
    if blobs is not None:
        found.blobs = _blobs(blobs)
    found.incidents = _incidents(found, now - alert_after)
    for name, quiet in (quiet_after or {}).items():
        last = found.last_received.get(name.removeprefix("imap:"))
        if last is not None and last < now - quiet:  # a mailbox that never brought mail: no base
            minutes = int(quiet.total_seconds() // 60)
            found.incidents[f"quiet:{name}"] = f"{name} brought no mail in {minutes} minutes"
    return found


def _queues(db: Database, found: Snapshot, now: datetime) -> None:
    try:
        with db.reading() as session:  # one session for every figure of the snapshot
            found.spool = _queue(
                session, InboundSpool, SPOOL_SHOWN, "pending", InboundSpool.received_at, now
            )
            found.outbox = _queue(session, Outbox, OUTBOX_SHOWN, "queued", Outbox.created_at, now)
            found.connectors = connectors.every(session, now)
            found.grants = oauth.every(session)
            by_source = select(InboundSpool.source, func.count()).group_by(InboundSpool.source)
            found.received = {source: int(n) for source, n in session.execute(by_source)}
            latest = (
                select(InboundSpool.peer, func.max(InboundSpool.received_at))
                .where(InboundSpool.source == "imap")
                .group_by(InboundSpool.peer)
            )
            found.last_received = {
                peer: at if at.tzinfo else at.replace(tzinfo=now.tzinfo)
                for peer, at in session.execute(latest)
            }
    except SQLAlchemyError as exc:
        found.database = f"unreadable: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def _incidents(found: Snapshot, failing_before: datetime) -> dict[str, str]:
    """What needs a person, by a key that stays the same while the trouble lasts."""
    found_now: dict[str, str] = {}
    for c in found.connectors:
        if c.failing_since is not None and c.failing_since <= failing_before:
            found_now[f"connector:{c.name}"] = (
                f"{c.name} failing since {c.failing_since:%Y-%m-%d %H:%M} UTC "
                f"({c.consecutive_failures} failure(s)): {c.last_error[:200]}"
            )
    for name, state, error in found.grants:  # a refused consent never mends itself: at once
        if state == oauth.NEEDS_CONSENT:
            found_now[f"oauth:{name}"] = (
                f"oauth '{name}' needs consent ({error[:200]}): run 'echodesk connect {name}'"
            )
    if found.database != "ok":
        found_now["database"] = f"database {found.database}"
    if found.migrations != "current":
        found_now["migrations"] = f"migrations {found.migrations} (run 'echodesk db upgrade')"
    if found.blobs != "ok":
        found_now["blobs"] = f"blob store {found.blobs}"
    queues = (("spool", found.spool, "pending"), ("outbox", found.outbox, "queued"))
    for name, queue, waiting in queues:
        if queue.counts.get("failed"):
            found_now[f"{name}:failed"] = f"{queue.counts['failed']} failed row(s) in the {name}"
        age = queue.oldest_waiting_seconds
        if age is not None and age > STUCK_AFTER:
            found_now[f"{name}:stuck"] = (
                f"the oldest {waiting} {name} row has waited {int(age // 60)} minutes"
            )
    return found_now
