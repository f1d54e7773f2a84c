"""Waking snoozed tickets and mailing reminders when their time comes.

Every process's scheduler runs this job; each ticket and each reminder is
claimed by exactly one of them (``store/reminders.py``), so a wake-up or a
reminder is mailed once however many processes run. A woken ticket's
assignee (or the unassigned list) is told; a reminder goes to the agent who
set it. Both are notifications like any other: signed, so the agent can
answer them with commands.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.store import drafts, reminders, tickets
from echodesk.store.db import Database
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)
ACTOR = "system:scheduler"


def run_wakeups(db: Database, ctx: DeskContext) -> tuple[list[int], list[int]]:
    """Wake what is due, mail what is due, drop held replies too old; (tickets woken,
    reminders sent)."""
    now = utcnow()
    with db.transaction() as session:
        woke = reminders.wake_due(session, now)
        due = reminders.claim_reminders(session, now)
        notifier = Notifier(session, ctx)
        _drop_old_drafts(session, ctx, notifier, now)
        for ticket_id in woke:
            ticket = tickets.get(session, ticket_id)
            if ticket is not None:
                audit.record(session, ACTOR, "tickets.woke", ticket, {"why": "snooze over"}, now)
            notifier.notify(ticket_id, Notice.WOKE, None, now=now, detail="the snooze is over")
        for reminder in due:
            notifier.notify(
                reminder.ticket_id,
                Notice.REMINDER,
                None,
                now=now,
                detail=reminder.text,
                to_agent=reminder.agent_id,
            )
        notifier.flush(now)
    if woke or due:
        log.info("woke %d ticket(s), sent %d reminder(s)", len(woke), len(due))
    return woke, [r.id for r in due]


def _drop_old_drafts(session: Session, ctx: DeskContext, notifier: Notifier, now: datetime) -> None:
    """A held reply nobody sent in ``held_draft_days`` is dropped, and its agent told."""
    days = ctx.settings.held_draft_days
    for held in drafts.expire(session, now - timedelta(days=days)):
        quoted = "\n".join(f"> {line}" for line in [*held.lines, *held.text.split("\n")])
        detail = f"dropped after {days} day(s) unsent ({held.reason}):\n\n{quoted}"
        notifier.notify(
            held.ticket_id, Notice.HELD, None, now=now, detail=detail, to_agent=held.agent_id
        )


__all__ = ["run_wakeups"]
