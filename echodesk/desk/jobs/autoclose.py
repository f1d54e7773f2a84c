"""Auto-close: tickets left pending with no customer reply for N days are closed.

A ticket is pending from the moment an agent asks the customer something; a
customer reply reopens it, so "pending since" is also "no reply since". The
job closes each due ticket with a conditional update (``WHERE status =
'pending'``), which is its claim: when several processes run the job at the
same moment, exactly one of them changes the row and sends the notice; the
others see no row changed and move on. No lock is held across tickets.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from string import Template
from typing import Any

from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.queue import load_conversation, message_row, outgoing, queue
from echodesk.desk.outbound.satisfaction import send_survey, with_survey
from echodesk.desk.tickets import sla
from echodesk.desk.tickets.status import AUTOCLOSE_FROM, autoclosed
from echodesk.store import messages, tickets
from echodesk.store.db import Database
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)
ACTOR = "system:autoclose"
PURPOSE = "autoclose"


def due_tickets(db: Database, cutoff: datetime, limit: int) -> list[int]:
    """Ids of pending tickets whose status has not changed since ``cutoff``."""
    with db.reading() as session:
        return tickets.unchanged_since(session, AUTOCLOSE_FROM.value, cutoff, limit)


def close_one(db: Database, ctx: DeskContext, ticket_id: int, cutoff: datetime) -> int | None:
    """Close one ticket if it is still due; its number, or None if someone else did."""
    now = utcnow()
    with db.transaction() as session:
        values = {**autoclosed(now), "updated_at": now}
        due = AUTOCLOSE_FROM.value
        if not tickets.update_if_unchanged(session, ticket_id, due, cutoff, values):
            return None
        ticket = tickets.get(session, ticket_id, fresh=True)
        assert ticket is not None
        payload: dict[str, Any] = {"days": ctx.settings.autoclose_days, "notice": False}
        conv = load_conversation(session, ticket)
        template = ctx.settings.autoclose_notice
        if template and conv.customer is not None:
            label = ctx.settings.ticket_label(ticket.number)
            name = conv.customer.name or "there"
            text = Template(template).safe_substitute(
                ticket=label, subject=ticket.subject, name=name
            )
            text = with_survey(ctx, ticket.id, text)
            mail = outgoing(
                ctx, conv, text, now=now, auto_submitted="auto-generated", with_cc=False
            )
            message = message_row(mail, ticket.id, kind=PURPOSE, agent_id=None, now=now)
            messages.add(session, message)
            queued = queue(
                session, ctx, mail, purpose=PURPOSE, ticket_id=ticket.id, message_pk=message.id
            )
            payload.update(notice=True, outbox=list(queued.ids))
        elif conv.customer is not None:
            send_survey(session, ctx, ticket, now, what="closed")
        audit.record(session, ACTOR, "tickets.autoclose", ticket, payload, now)
        sla.reconcile(session, ctx.settings, {ticket.id}, now)
        return ticket.number


def run_autoclose(db: Database, ctx: DeskContext, limit: int = 500) -> list[int]:
    """Close every due ticket (up to ``limit``); the numbers this process closed."""
    days = ctx.settings.autoclose_days
    if days <= 0:
        return []
    cutoff = utcnow() - timedelta(days=days)
    closed = []
    for ticket_id in due_tickets(db, cutoff, limit):
        number = close_one(db, ctx, ticket_id, cutoff)
        if number is not None:
            closed.append(number)
    if closed:
        log.info("auto-closed %d ticket(s) pending for %d days", len(closed), days)
    return closed
