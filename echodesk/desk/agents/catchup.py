"""Telling agents of the tickets nobody was ever told of (``echodesk agents add --catch-up``).

Mail that came in before the first agent existed opened tickets that
notified no one, and nothing would ever bring them to an agent's mail
client. Catching up notifies, for each unresolved ticket without a single
notification, whom a new ticket notifies now (the assignee, the
``notify_unassigned`` list, or every agent), with its latest message, as
if it had just arrived.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.notify import PURPOSE, Notice, Notifier
from echodesk.statuses import UNRESOLVED
from echodesk.store import tickets


def catch_up(session: Session, ctx: DeskContext, now: datetime) -> list[int]:
    """Queue the notifications; the numbers of the tickets they are about."""
    waiting = tickets.never_told(session, UNRESOLVED, PURPOSE)
    notifier = Notifier(session, ctx)
    for ticket_id, message_pk in waiting:
        notifier.notify(ticket_id, Notice.NEW_TICKET, message_pk, now=now)
    notifier.flush(now)
    return sorted(tickets.numbers_of(session, [t for t, _ in waiting]).values())


__all__ = ["catch_up"]
