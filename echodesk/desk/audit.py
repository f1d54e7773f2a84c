"""The audit trail's one shape: who did what, to which target, with what payload.

Who did it (an agent's address, ``rule:NAME``, or ``system:...``), what
(``tickets.reply``, ``commands.assign``), to which target (a ticket by its
number, an outbox row, a spool row, a message) and a payload with no more
personal data than the action needs. :func:`row` is the only place an audit
row's columns are spelled out; the batch pipeline collects rows and writes
them in one statement, a change made outside it writes one with
:func:`record`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from echodesk.store import writes
from echodesk.store.types import utcnow

Row = dict[str, Any]


class Numbered(Protocol):
    """A stored ticket as the audit trail names it."""

    @property
    def id(self) -> int: ...

    @property
    def number(self) -> int: ...


def row(
    actor: str,
    action: str,
    payload: dict[str, Any],
    *,
    target: tuple[str, object] = ("mail", ""),
    ticket_id: int | None = None,
    at: datetime | None = None,
) -> Row:
    """One audit row; ``target`` is (kind, id), e.g. ("outbox", 12) or ("ticket", number)."""
    return {
        "at": at or utcnow(),
        "actor": actor[:320],
        "action": action,
        "target_type": target[0],
        "target_id": str(target[1]),
        "ticket_id": ticket_id,
        "payload": payload,
    }


def on_ticket(
    actor: str, action: str, ticket: Numbered, payload: dict[str, Any], at: datetime | None = None
) -> Row:
    """An audit row about a stored ticket (named by its number)."""
    return row(actor, action, payload, target=("ticket", ticket.number), ticket_id=ticket.id, at=at)


def record(
    session: Session,
    actor: str,
    action: str,
    ticket: Numbered | None,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """Write one audit row now, about a ticket or (without one) about a piece of mail."""
    if ticket is None:
        entry = row(actor, action, payload, at=now)
    else:
        entry = on_ticket(actor, action, ticket, payload, now)
    writes.insert_audit(session, [entry])
