"""Writing audit rows: who did what to which object, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from echodesk.store.models import AuditLog
from echodesk.store.types import utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: object,
    ticket_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add one audit row in the caller's transaction (it commits or rolls back with it)."""
    session.add(
        AuditLog(
            at=utcnow(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            ticket_id=ticket_id,
            payload=payload or {},
        )
    )
