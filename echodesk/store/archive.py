"""Read models for the web archive: pages of tickets, counts, people, the audit trail.

Like :mod:`echodesk.store.readmodels` (whose ticket fields they share), these
return plain values; they add what a browser needs and a script does not:
paging with a total, counts per status, and ids for links that never put
personal data in a URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from echodesk.config import Settings
from echodesk.statuses import STATUSES, UNRESOLVED
from echodesk.store import readmodels, ticketlist
from echodesk.store.models import (
    Agent,
    AgentAlias,
    Attachment,
    AuditLog,
    Customer,
    InboundSpool,
    Message,
    Ticket,
    TicketTag,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    per_page: int
    more: bool = False  # the total is a lower bound (a search that stopped counting)

    @property
    def pages(self) -> int:
        counted = max(1, -(-self.total // self.per_page))
        return max(counted, self.page + 1) if self.more else counted


def status_counts(session: Session) -> dict[str, int]:
    """Live (not merged) tickets per status, every status present."""
    stmt = (
        select(Ticket.status, func.count())
        .where(Ticket.merged_into_id.is_(None))
        .group_by(Ticket.status)
    )
    found = {status: int(n) for status, n in session.execute(stmt)}
    return {status: found.get(status, 0) for status in STATUSES}


def ticket_page(
    session: Session,
    settings: Settings,
    *,
    status: str | None = None,
    tag: str | None = None,
    assignee: str | None = None,
    page: int = 1,
    per_page: int = 25,
    sort: ticketlist.Sort | None = None,
    details: bool = False,
    counts: dict[str, int] | None = None,
) -> Page:
    """One page of live tickets, filtered, in the order asked for (most recently updated
    first by default; see :mod:`echodesk.store.ticketlist`). ``details`` adds what the
    archive's table shows beyond the command line's fields (the API leaves them out).
    ``counts``, the :func:`status_counts` the caller read already, give the total of a
    page filtered by status alone without counting the archive again."""
    where: list[ColumnElement[bool]] = [Ticket.merged_into_id.is_(None)]
    if status:
        where.append(Ticket.status == status)
    if assignee == "none":
        where.append(Ticket.assignee_id.is_(None))
    elif assignee:
        where.append(Ticket.assignee_id.in_(select(Agent.id).where(Agent.email == assignee)))
    count_where = list(where)
    if tag:
        # The page tests each ticket, newest first (a common tag fills it at once);
        # the count starts from the tag's own index.
        tagged = select(TicketTag.ticket_id).where(TicketTag.tag == tag.lower())
        where.append(tagged.where(TicketTag.ticket_id == Ticket.id).exists())
        count_where.append(Ticket.id.in_(tagged))
    total = _total(session, count_where, status, tag, assignee, counts)
    found = ticketlist.page(
        session,
        where,
        sort or ticketlist.chosen(None, None),
        per_page,
        (max(1, page) - 1) * per_page,
    )
    rows = tickets_as_rows(session, settings, found)
    if details:
        _add_details(session, rows, found)
    return Page(rows, total, max(1, page), per_page)


def _total(
    session: Session,
    count_where: Sequence[ColumnElement[bool]],
    status: str | None,
    tag: str | None,
    assignee: str | None,
    counts: dict[str, int] | None,
) -> int:
    """How many live tickets the filters pass, read the cheapest way: a status alone from
    the tab counts already read; a tag alone from the tag's index, less its merged
    tickets (few, found through their own index); anything else counted."""
    if counts is not None and not (tag or assignee):
        return counts.get(status, 0) if status else sum(counts.values())
    if tag and not (status or assignee):
        name = tag.lower()
        tagged = select(func.count()).select_from(TicketTag).where(TicketTag.tag == name)
        merged = (
            select(func.count())
            .select_from(Ticket)
            .join(TicketTag, (TicketTag.ticket_id == Ticket.id) & (TicketTag.tag == name))
            .where(Ticket.merged_into_id.is_not(None))
        )
        return int(session.scalar(select(tagged.scalar_subquery() - merged.scalar_subquery())) or 0)
    return int(session.scalar(select(func.count()).select_from(Ticket).where(*count_where)) or 0)


def tickets_as_rows(session: Session, settings: Settings, found: Sequence[Ticket]) -> list[Row]:
    """The command line's ticket fields, plus the ids and the number for links."""
    rows = readmodels._summaries(session, settings, found)
    for row, ticket in zip(rows, found, strict=True):
        row["n"] = ticket.number
        row["customer_id"] = ticket.customer_id
    return rows


def tickets_by_ids(
    session: Session, settings: Settings, ids: Sequence[int], *, details: bool = False
) -> list[Row]:
    """Ticket rows in the order of ``ids`` (search results); ``details`` as for
    :func:`ticket_page`."""
    if not ids:
        return []
    found = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(list(ids))))}
    ordered = [found[i] for i in ids if i in found]
    rows = tickets_as_rows(session, settings, ordered)
    if details:
        _add_details(session, rows, ordered)
    return rows


def _add_details(session: Session, rows: list[Row], found: Sequence[Ticket]) -> None:
    extra = ticketlist.details(session, found)
    for row, ticket in zip(rows, found, strict=True):
        row.update(extra[ticket.id])


#: Every tag in use, read by skipping from one tag to the next through the tag index:
#: one probe a tag, where ``SELECT DISTINCT`` reads every row of every tagged ticket
#: (tens of milliseconds on every list page of a large archive).
_TAGS_IN_USE = text(
    "WITH RECURSIVE used(tag) AS ("
    " SELECT min(tag) FROM ticket_tags"
    " UNION ALL"
    " SELECT (SELECT min(t.tag) FROM ticket_tags t WHERE t.tag > used.tag)"
    " FROM used WHERE used.tag IS NOT NULL"
    ") SELECT tag FROM used WHERE tag IS NOT NULL"
)


def all_tags(session: Session) -> list[str]:
    """Every tag some ticket has, in order (the list's tag filter offers them)."""
    return [str(tag) for tag in session.scalars(_TAGS_IN_USE)]


def agents(session: Session) -> list[Row]:
    found = list(session.scalars(select(Agent).order_by(Agent.email)))
    aliases: dict[int, list[str]] = {a.id: [] for a in found}
    for agent_id, email in session.execute(select(AgentAlias.agent_id, AgentAlias.email)):
        aliases.setdefault(agent_id, []).append(email)
    # Grouped in the live-ticket index's own order (status, assignee): read from it
    # alone, with nothing to sort; the statuses are added up here.
    open_counts: dict[int | None, int] = {}
    for _status, assignee, n in session.execute(
        select(Ticket.status, Ticket.assignee_id, func.count())
        .where(Ticket.status.in_(UNRESOLVED), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.status, Ticket.assignee_id)
    ):
        open_counts[assignee] = open_counts.get(assignee, 0) + int(n)
    return [
        {
            "email": a.email,
            "name": a.name,
            "role": a.role,
            "active": a.active,
            "aliases": sorted(aliases.get(a.id, [])),
            "open_tickets": int(open_counts.get(a.id, 0)),
        }
        for a in found
    ]


def customer(session: Session, settings: Settings, customer_id: int) -> Row | None:
    person = session.get(Customer, customer_id)
    if person is None:
        return None
    found = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.customer_id == customer_id)
            .order_by(Ticket.updated_at.desc())
            .limit(200)
        )
    )
    return {
        "id": person.id,
        "email": person.email,
        "name": person.display_name,
        "first_seen_at": readmodels.iso(person.first_seen_at),
        "last_seen_at": readmodels.iso(person.last_seen_at),
        "bounced_at": readmodels.iso(person.bounced_at),
        "bounce_detail": person.bounce_detail,
        "tickets": tickets_as_rows(session, settings, found),
    }


def customers_page(session: Session, query: str = "", page: int = 1, per_page: int = 50) -> Page:
    """Customers whose address or name holds ``query`` (``@example.com`` or ``example.com``
    finds a domain), most recently seen first, with their ticket counts and mail state."""
    where: list[ColumnElement[bool]] = [Customer.deleted_at.is_(None)]
    text = query.strip().lower()[:200]
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.append(
            or_(
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.display_name).like(pattern, escape="\\"),
            )
        )
    total = int(session.scalar(select(func.count()).select_from(Customer).where(*where)) or 0)
    found = list(
        session.scalars(
            select(Customer)
            .where(*where)
            .order_by(Customer.last_seen_at.desc(), Customer.id.desc())
            .limit(per_page)
            .offset((max(1, page) - 1) * per_page)
        )
    )
    counts = _ticket_counts(session, [c.id for c in found])
    rows = [
        {
            "id": c.id,
            "email": c.email,
            "name": c.display_name,
            "last_seen_at": readmodels.iso(c.last_seen_at),
            "tickets": counts.get(c.id, (0, 0))[0],
            "open": counts.get(c.id, (0, 0))[1],
            "mail": _mail_state(c),
        }
        for c in found
    ]
    return Page(rows, total, max(1, page), per_page)


def _ticket_counts(session: Session, ids: list[int]) -> dict[int, tuple[int, int]]:
    """(all, unresolved) live tickets per customer."""
    if not ids:
        return {}
    unresolved = func.sum(case((Ticket.status.in_(UNRESOLVED), 1), else_=0))
    stmt = (
        select(Ticket.customer_id, func.count(), unresolved)
        .where(Ticket.customer_id.in_(ids), Ticket.merged_into_id.is_(None))
        .group_by(Ticket.customer_id)
    )
    return {cid: (int(n), int(o or 0)) for cid, n, o in session.execute(stmt)}


def _mail_state(customer: Customer) -> str:
    """delivered, bounced or complained (a spam complaint is kept as a bounce detail)."""
    if customer.bounced_at is None:
        return "delivered"
    return "complained" if customer.bounce_detail.startswith("complaint") else "bounced"


def conversation(session: Session, settings: Settings, ticket: Ticket) -> Row:
    """The ticket with every message (ids, HTML presence, attachment ids) and its audit."""
    detail = readmodels.ticket_detail(session, settings, ticket)
    messages = list(
        session.scalars(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
    )
    files: dict[int, list[Row]] = {}
    stmt = select(Attachment).where(Attachment.message_pk.in_([m.id for m in messages]))
    for a in session.scalars(stmt.order_by(Attachment.id)):
        files.setdefault(a.message_pk, []).append(
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "inline": a.inline,
                "erased": a.erased_at is not None,
            }
        )
    for row, message in zip(detail["messages"], messages, strict=True):
        row["id"] = message.id
        row["has_html"] = bool(message.body_html.strip())
        row["files"] = files.get(message.id, [])
    detail["n"] = ticket.number
    detail["customer_id"] = ticket.customer_id
    detail["audit"] = audit_trail(session, ticket.id)
    return detail


def audit_trail(session: Session, ticket_id: int, limit: int = 200) -> list[Row]:
    """The ticket's audit rows, newest first, with the names of the agents they mention
    (the actor by address; an assignment's agents by id)."""
    stmt = (
        select(AuditLog)
        .where(AuditLog.ticket_id == ticket_id)
        .order_by(AuditLog.id.desc())
        .limit(limit)
    )
    rows = list(session.scalars(stmt))
    team = list(session.scalars(select(Agent)))
    people = {a.email: a.name or a.email for a in team}
    ids = {a.id: a.name or a.email for a in team}
    trail = []
    for a in rows:
        payload = dict(a.payload or {})
        if a.action == "commands.assign":
            payload["from_name"] = ids.get(payload.get("from") or 0, "nobody")
            payload["to_name"] = ids.get(payload.get("to") or 0, "nobody")
        trail.append(
            {
                "at": readmodels.iso(a.at),
                "actor": a.actor,
                "actor_name": people.get(a.actor, ""),
                "action": a.action,
                "payload": payload,
            }
        )
    return trail


def message(session: Session, message_pk: int) -> Message | None:
    return session.get(Message, message_pk)


def attachment(session: Session, attachment_id: int) -> tuple[Attachment, int] | None:
    """The attachment and the number of the ticket it belongs to."""
    row = session.execute(
        select(Attachment, Ticket.number)
        .join(Message, Message.id == Attachment.message_pk)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .where(Attachment.id == attachment_id)
    ).first()
    return (row[0], row[1]) if row else None


def spool_problems(session: Session, settings: Settings) -> dict[str, list[Row]]:
    """Failed and quarantined mail, newest first, with the error or the rule."""
    out: dict[str, list[Row]] = {}
    for state in ("failed", "quarantined"):
        rows = session.scalars(
            select(InboundSpool)
            .where(InboundSpool.state == state)
            .order_by(InboundSpool.id.desc())
            .limit(200)
        ).all()
        labels = readmodels._numbers(session, settings, [r.ticket_id for r in rows if r.ticket_id])
        out[state] = [readmodels._spool_row(r, labels) for r in rows]
    return out
