"""One way to write an audit row for a change made outside the batch pipeline.

Who did it (an agent's address, or ``system:...``), what (``tickets.reply``,
``commands.assign``), to which ticket, and a payload with no more personal
data than the action needs. The batch pipeline writes its rows in bulk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from echodesk.store.models import AuditLog, Ticket
from echodesk.store.types import utcnow


def record(
    session: Session,
    actor: str,
    action: str,
    ticket: Ticket | None,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> None:
    session.add(
        AuditLog(
            at=now or utcnow(),
            actor=actor,
            action=action,
            target_type="ticket" if ticket else "mail",
            target_id=str(ticket.number) if ticket else "",
            ticket_id=ticket.id if ticket else None,
            payload=payload,
        )
    )
