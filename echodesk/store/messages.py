"""Messages in the store: a ticket's latest ones, their files, and adding one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from echodesk.store import searchindex, writes
from echodesk.store.models import Attachment, Message


def add(session: Session, message: Message) -> Message:
    """Store one message built by the desk; its id is known on return."""
    session.add(message)
    session.flush()
    return message


def attach(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Attach files to messages already stored, and index the files' names with them.

    (The batch pipeline indexes names as it inserts its messages, and uses
    :func:`echodesk.store.writes.insert_attachments` directly.)
    """
    writes.insert_attachments(session, rows)
    searchindex.reindex(session, {row["message_pk"] for row in rows})


def latest(
    session: Session, ticket_id: int, *, upto: int | None = None, internal: bool = True
) -> list[Message]:
    """The ticket's three newest messages up to message ``upto``, newest first."""
    stmt = select(Message).where(Message.ticket_id == ticket_id)
    if not internal:
        stmt = stmt.where(Message.direction != "internal")
    if upto is not None:
        stmt = stmt.where(Message.id <= upto)
    return list(session.scalars(stmt.order_by(Message.id.desc()).limit(3)))


def _visible() -> Any:
    """What both the customer and the agents see: the customer's mail, and replies to it."""
    return ((Message.direction == "inbound") & (Message.kind == "customer")) | (
        (Message.direction == "outbound") & (Message.kind == "reply")
    )


def newest_visible(session: Session, ticket_id: int) -> int:
    """The id of the ticket's newest customer-visible message (0: none yet)."""
    stmt = select(func.max(Message.id)).where(Message.ticket_id == ticket_id, _visible())
    return int(session.scalar(stmt) or 0)


def created_at(session: Session, message_pk: int) -> datetime | None:
    """When a message was stored."""
    return session.scalar(select(Message.created_at).where(Message.id == message_pk))


def newer_visible(session: Session, ticket_id: int, after: int, agent_id: int) -> list[Message]:
    """Customer-visible messages after ``after`` that are not this agent's own, oldest first:
    what an agent answering an older notification has not seen."""
    mine = (Message.direction == "outbound") & (Message.agent_id == agent_id)
    return list(
        session.scalars(
            select(Message)
            .where(Message.ticket_id == ticket_id, Message.id > after, _visible(), ~mine)
            .order_by(Message.id)
        )
    )


def files_of(session: Session, message_pks: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """(file name, size) of each message's attachments, in the order they were stored."""
    out: dict[int, list[tuple[str, int]]] = {}
    if not message_pks:
        return out
    stmt = select(Attachment.message_pk, Attachment.filename, Attachment.size).where(
        Attachment.message_pk.in_(list(message_pks))
    )
    for pk, name, size in session.execute(stmt.order_by(Attachment.id)):
        out.setdefault(pk, []).append((name, size))
    return out


def chain(session: Session, ticket_id: int) -> list[tuple[str, str, str]]:
    """(Message-ID, direction, kind) of the ticket's mail, oldest first (no internal notes)."""
    stmt = (
        select(Message.message_id, Message.direction, Message.kind)
        .where(Message.ticket_id == ticket_id, Message.direction != "internal")
        .order_by(Message.id)
    )
    return [(mid, direction, kind) for mid, direction, kind in session.execute(stmt)]


__all__ = ["Message", "add", "attach", "chain", "files_of", "latest"]
