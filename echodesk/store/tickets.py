"""Tickets in the store: loading them, where a merged one lives on, auto-close's claim.

The desk reads and changes tickets through this module (and
:mod:`echodesk.store.writes` for set-at-a-time writes); it never builds a
query on the ticket table itself.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from echodesk.store.models import (
    AuditLog,
    Message,
    Outbox,
    Ticket,
    TicketFollower,
    TicketParticipant,
    TicketTag,
)

K = TypeVar("K", bound=Hashable)


def by_number(session: Session, number: int) -> Ticket | None:
    return session.scalars(select(Ticket).where(Ticket.number == number)).first()


def merge_chain(start: K, merged_into: Callable[[K], K | None]) -> list[K]:
    """The ticket and each ticket it was merged into, in order; a cycle ends the walk.

    A merged ticket points at the one its conversation moved to, and anything
    addressed to it belongs at the end of the chain. The one walk serves stored
    rows (:func:`live`) and the tickets a batch plans, keyed as it keys them.
    """
    chain = [start]
    following = merged_into(start)
    while following is not None and following not in chain:
        chain.append(following)
        following = merged_into(following)
    return chain


def live(session: Session, ticket_id: int) -> Ticket | None:
    """The stored ticket, or the one it was merged into (None if there is none)."""

    def merged_into(tid: int) -> int | None:
        row = session.get(Ticket, tid)
        return row.merged_into_id if row is not None else None

    return session.get(Ticket, merge_chain(ticket_id, merged_into)[-1])


def tags_of(session: Session, ticket_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {tid: [] for tid in ticket_ids}
    if ticket_ids:
        stmt = (
            select(TicketTag.ticket_id, TicketTag.tag)
            .where(TicketTag.ticket_id.in_(list(ticket_ids)))
            .order_by(TicketTag.tag)
        )
        for tid, tag in session.execute(stmt):
            out[tid].append(tag)
    return out


def message_counts(session: Session, ticket_ids: Sequence[int]) -> dict[int, int]:
    if not ticket_ids:
        return {}
    stmt = (
        select(Message.ticket_id, func.count())
        .where(Message.ticket_id.in_(list(ticket_ids)))
        .group_by(Message.ticket_id)
    )
    return {tid: int(n) for tid, n in session.execute(stmt)}


def numbers_of(session: Session, ticket_ids: Iterable[int]) -> dict[int, int]:
    """Ticket numbers by id."""
    wanted = sorted(set(ticket_ids))
    if not wanted:
        return {}
    stmt = select(Ticket.id, Ticket.number).where(Ticket.id.in_(wanted))
    return {tid: number for tid, number in session.execute(stmt)}


def copied(session: Session, ticket_id: int) -> list[str]:
    """The addresses copied on the ticket's replies (participants with the ``cc`` role)."""
    stmt = (
        select(TicketParticipant.email)
        .where(TicketParticipant.ticket_id == ticket_id, TicketParticipant.role == "cc")
        .order_by(TicketParticipant.email)
    )
    return list(session.scalars(stmt))


def newest_tagged(session: Session, statuses: Sequence[str], tags: Sequence[str]) -> Ticket | None:
    """The newest live ticket in one of ``statuses`` that carries every one of ``tags``."""
    stmt = (
        select(Ticket)
        .join(TicketTag, TicketTag.ticket_id == Ticket.id)
        .where(
            Ticket.status.in_(list(statuses)),
            Ticket.merged_into_id.is_(None),
            TicketTag.tag.in_(list(tags)),
        )
        .group_by(Ticket.id)
        .having(func.count() == len(set(tags)))
        .order_by(Ticket.id.desc())
    )
    return session.scalars(stmt).first()


def never_told(
    session: Session, statuses: Sequence[str], purpose: str, limit: int = 10_000
) -> list[tuple[int, int | None]]:
    """(id, newest message's id) of live tickets in ``statuses`` with no outbox row of
    ``purpose``: tickets no agent was ever notified of, oldest first."""
    told = select(Outbox.id).where(Outbox.ticket_id == Ticket.id, Outbox.purpose == purpose)
    newest = select(func.max(Message.id)).where(Message.ticket_id == Ticket.id).scalar_subquery()
    rows = session.execute(
        select(Ticket.id, newest)
        .where(
            Ticket.status.in_(statuses),
            Ticket.merged_into_id.is_(None),
            ~told.exists(),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    return [(int(ticket_id), pk) for ticket_id, pk in rows]


def followers(session: Session, ticket: Ticket) -> set[int]:
    """The agents a colleague's reply to the customer reaches: the assignee, everyone who
    replied to the customer before, and whoever said ``#follow``; less whoever said
    ``#unfollow`` (the assignee always follows)."""
    repliers = {
        int(agent_id)
        for agent_id in session.scalars(
            select(Message.agent_id).where(
                Message.ticket_id == ticket.id,
                Message.direction == "outbound",
                Message.agent_id.is_not(None),
            )
        )
        if agent_id is not None
    }
    said = dict(
        session.execute(
            select(TicketFollower.agent_id, TicketFollower.following).where(
                TicketFollower.ticket_id == ticket.id
            )
        ).all()
    )
    chosen = {a for a in repliers | set(said) if said.get(a, True)}
    return chosen | ({ticket.assignee_id} if ticket.assignee_id is not None else set())


def assigned_by_others_since(session: Session, ticket_id: int, since: datetime, actor: str) -> bool:
    """Whether someone other than ``actor`` (an agent, a rule) assigned the ticket after
    ``since``: a change an agent answering an older notification has not seen."""
    found = session.scalar(
        select(AuditLog.id)
        .where(
            AuditLog.ticket_id == ticket_id,
            AuditLog.action.in_(("commands.assign", "rules.assign")),
            AuditLog.actor != actor,
            AuditLog.at > since,
        )
        .limit(1)
    )
    return found is not None


def get(session: Session, ticket_id: int, *, fresh: bool = False) -> Ticket | None:
    """A ticket by id; ``fresh`` reloads it from the database (after a bulk update)."""
    return session.get(Ticket, ticket_id, populate_existing=fresh)


def _status_since() -> Any:
    return func.coalesce(Ticket.status_changed_at, Ticket.updated_at)


def unchanged_since(session: Session, status: str, cutoff: datetime, limit: int) -> list[int]:
    """Ids of live tickets in ``status`` that have not changed status since ``cutoff``."""
    stmt = (
        select(Ticket.id)
        .where(Ticket.status == status, Ticket.merged_into_id.is_(None), _status_since() < cutoff)
        .order_by(Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def update_if_unchanged(
    session: Session, ticket_id: int, status: str, cutoff: datetime, values: dict[str, Any]
) -> bool:
    """Write ``values`` only if the ticket is still in ``status`` since before ``cutoff``.

    The conditional update is the claim: of several processes trying at once,
    exactly one sees its row changed.
    """
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == status, _status_since() < cutoff)
        .values(**values)
    )
    return bool(cast(Any, result).rowcount == 1)


__all__ = [
    "Ticket",
    "by_number",
    "copied",
    "get",
    "live",
    "merge_chain",
    "message_counts",
    "newest_tagged",
    "numbers_of",
    "tags_of",
    "unchanged_since",
    "update_if_unchanged",
]
