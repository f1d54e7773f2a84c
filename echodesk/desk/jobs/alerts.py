"""Alerts: the admins hear of trouble once per incident, and once more when it clears.

Every few minutes each process reads the desk's health
(:mod:`echodesk.store.health`); an incident that is new (a mailbox or the relay
failing for longer than ``alert_after``, failed spool or outbox rows, a queue
that does not move, an unreachable blob store) is mailed to
``admin_addresses``, and a recovery mail follows when it is gone. The
database decides which process speaks (:mod:`echodesk.store.alerts`), so
several processes mail once. The mail goes through the outbox, which may be
the very thing that fails, so every alert is also logged at ERROR and every
open incident is shown in the archive's header: never the failing path alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.mailbox.compose import OutgoingMail, compose, new_message_id
from echodesk.mailbox.message import Address
from echodesk.store import alerts, outbox
from echodesk.store.db import Database
from echodesk.store.health import snapshot_for
from echodesk.store.outbox import NewMail
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)
PURPOSE = "alert"
#: Incidents that cannot be recorded while they last (the database is the record).
UNRECORDABLE = frozenset({"database", "migrations"})


@dataclass(frozen=True)
class Told:
    """What one run of the job told the admins: incidents opened and cleared."""

    opened: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()


def run_alerts(db: Database, ctx: DeskContext) -> Told:
    """Open new incidents, clear gone ones, and mail the admins about each change."""
    settings = ctx.settings
    found = snapshot_for(settings, db, ctx.blobs)
    if not found.incidents.keys().isdisjoint(UNRECORDABLE):
        for detail in found.problems:
            log.error("alert (not recorded: the database is not usable): %s", detail)
        return Told()
    now = utcnow()
    marker = ctx.loop_marker  # read (or made) before the transaction: it takes its own
    opened: list[str] = []
    cleared: list[str] = []
    with db.transaction() as session:
        for key, detail in found.incidents.items():
            if alerts.open_incident(session, key, detail, now):
                log.error("alert: %s", detail)
                subject = f"Echo needs attention: {detail[:120]}"
                _mail(session, ctx, marker, subject, _opened(detail))
                opened.append(key)
        for key, detail in alerts.open_incidents(session).items():
            if key not in found.incidents and alerts.close_incident(session, key, now):
                log.warning("alert cleared: %s", detail)
                _mail(session, ctx, marker, f"Echo recovered: {detail[:120]}", _cleared(detail))
                cleared.append(key)
    return Told(tuple(opened), tuple(cleared))


def _opened(detail: str) -> str:
    return (
        f"Echo found something that needs a person:\n\n  {detail}\n\n"
        "'echodesk status' shows the whole picture. You will get one more mail when it "
        "clears, and none before.\n"
    )


def _cleared(detail: str) -> str:
    return f"This has cleared:\n\n  {detail}\n\nNothing more is needed.\n"


def _mail(session: Session, ctx: DeskContext, marker: str, subject: str, text: str) -> None:
    """Queue the alert to every admin address (none set: it is only logged)."""
    settings = ctx.settings
    rows = []
    for rcpt in settings.admin_addresses:
        mail = OutgoingMail(
            from_=Address(settings.support_name, settings.support_address),
            to=(Address("", rcpt),),
            subject=subject,
            text=text,
            message_id=new_message_id(settings.outgoing_domain),
            date=utcnow(),
            auto_submitted="auto-generated",
            loop_marker=marker,
        )
        raw = compose(mail)
        rows.append(NewMail(rcpt=rcpt, raw=raw, message_id=mail.message_id, purpose=PURPOSE))
    if rows:
        outbox.queue(session, rows, ctx.blobs, settings.spool_inline_limit)
