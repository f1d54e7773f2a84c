"""The SLA sweep: bring changed tickets' clocks up to date, send what is due.

Every process's scheduler runs it every ``sla_check_seconds``. It first
reconciles the tickets changed in the last few runs (a path that changed a
ticket without reconciling it is caught here; reconciling twice changes
nothing), then takes the rows whose warning or breach moment has come
(``store/sla.py:claim_due``: rows another process holds are skipped, so
each notice goes out once) and tells the assignee, or every agent while
nobody has the ticket. The sweep's cost follows the rows due, not the
tickets open: the due rows are found through an index on ``alert_at``
(``bench/sla.py`` measures it over 100,000 open tickets).

When the policies themselves change (a restart with new ``sla`` settings,
business hours or timezone), the first sweep that notices it
(:func:`policies_digest` differs from the one stored) walks every unresolved
ticket once (:func:`recompute_all`) before it sends anything.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.desk.tickets.sla import TARGET_NAMES, Alert, alerts, reconcile
from echodesk.store import sla as store
from echodesk.store import tickets
from echodesk.store.db import Database
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)
ACTOR = "system:sla"
#: Runs of the sweep whose changes it looks at again (a slow commit is still caught).
LOOKBACK_RUNS = 3
#: Batches one sweep sends at most (the next run goes on with the rest).
MAX_BATCHES = 100


def run_sla(db: Database, ctx: DeskContext, now: datetime | None = None) -> list[Alert]:
    """One sweep; the notices this process sent."""
    settings = ctx.settings
    if not settings.sla:
        return []
    now = now or utcnow()
    _follow_policy_changes(db, ctx)
    lookback = timedelta(seconds=settings.sla_check_seconds * LOOKBACK_RUNS + 60)
    with db.transaction() as session:
        reconcile(session, settings, set(store.changed_since(session, now - lookback)), now)
    sent: list[Alert] = []
    for _ in range(MAX_BATCHES):  # one short transaction per batch of due rows
        with db.transaction() as session:
            batch, claimed = _send_due(session, ctx, now)
        sent += batch
        if claimed < store.SWEEP_BATCH:
            break
    if sent:
        log.info("sla: %d notice(s) sent", len(sent))
    return sent


def _send_due(session: Session, ctx: DeskContext, now: datetime) -> tuple[list[Alert], int]:
    """Send what one batch of due rows holds; (notices sent, rows claimed)."""
    due = store.claim_due(session, now)
    sent = [alert for clocks in due for alert in alerts(clocks, now)]  # stages move on
    store.save(session, [], due)
    notifier = Notifier(session, ctx)
    for alert in sent:
        _tell(session, ctx, notifier, alert, now)
    notifier.flush(now)
    return sent, len(due)


def _tell(
    session: Session, ctx: DeskContext, notifier: Notifier, alert: Alert, now: datetime
) -> None:
    ticket = tickets.get(session, alert.ticket_id)
    if ticket is None:
        return
    what = TARGET_NAMES.get(alert.target, alert.target)
    when = describe_due(alert.due, ctx.settings.timezone)
    if alert.kind == "breach":
        event, detail = Notice.SLA_BREACH, f"{what} was due {when} (SLA policy {alert.policy})"
    else:
        share = ctx.settings.sla_warn_percent
        event = Notice.SLA_WARNING
        detail = f"{what} due {when}: {share}% of the time is gone (SLA policy {alert.policy})"
    payload = {"target": alert.target, "due": alert.due.isoformat(), "policy": alert.policy}
    audit.record(session, ACTOR, f"sla.{alert.kind}", ticket, payload, now)
    notifier.notify(alert.ticket_id, event, None, now=now, detail=detail)


def describe_due(due: datetime, zone: str) -> str:
    """``Mon 2026-12-07 12:00 Europe/Berlin``: a due time as agents read it."""
    return f"{due.astimezone(ZoneInfo(zone)):%a %Y-%m-%d %H:%M} {zone}"


def policies_digest(settings: Settings) -> int:
    """A number that changes whenever anything the clocks are computed from changes."""
    text = repr(
        (settings.sla, settings.business_hours, settings.timezone, settings.sla_warn_percent)
    )
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def _follow_policy_changes(db: Database, ctx: DeskContext) -> None:
    digest = policies_digest(ctx.settings)
    with db.reading() as session:
        if store.policies_digest(session) == digest:
            return
    count = recompute_all(db, ctx)
    with db.transaction() as session:
        store.mark_policies(session, digest)
    log.info("sla: policies changed, %d unresolved ticket(s) recomputed", count)


def recompute_all(db: Database, ctx: DeskContext, batch: int = 1000) -> int:
    """Reconcile every unresolved ticket (after the policies changed); how many."""
    done, after = 0, 0
    while True:
        now = utcnow()
        with db.transaction() as session:
            ids = store.unresolved(session, after, batch)
            if not ids:
                return done
            reconcile(session, ctx.settings, set(ids), now)
        done += len(ids)
        after = ids[-1]


__all__ = ["describe_due", "policies_digest", "recompute_all", "run_sla"]
