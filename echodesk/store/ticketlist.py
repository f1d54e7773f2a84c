"""The archive's ticket table: the orders it offers, and what a row shows beyond the ticket.

The database sorts, from a whitelist: a key a browser sends names an
expression here, never a column, so an odd or hostile ``sort=`` falls back
to the default order instead of reaching the SQL. A value kept in another
table (the customer's name, the assignee's, the SLA clock) is read through a
join; the time a customer has waited is a subquery. Every order ends with the
ticket's id, in the same direction: two tickets never tie, so a page boundary
never repeats or drops one. A ticket with no value (no customer, nobody
assigned, no SLA clock) comes last either way, where a person reads last:
:func:`page` reads those with a value first, then the others. By wait, the
open tickets come first (those whose customer was answered at their end),
then every other status.

What a row shows besides the command line's fields (the customer's name, the
assignee's, the newest message's first words, since when the customer waits)
is read for the page's tickets together: the same few queries for a page of
any size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal_column, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from echodesk.statuses import STATUSES, Status
from echodesk.store.models import Agent, Customer, Message, Ticket, TicketSla
from echodesk.store.readmodels import iso

#: Each key a header may ask for, and the direction a first click sorts it in:
#: the order a person most often wants (newest first, longest waiting first,
#: soonest due first, names A to Z).
SORTS: dict[str, str] = {
    "number": "desc",
    "customer": "asc",
    "status": "asc",
    "assignee": "asc",
    "waiting": "desc",
    "sla": "asc",
    "updated": "desc",
}
#: The list's order when none is asked for: most recently updated first.
DEFAULT_SORT = "updated"
DIRECTIONS = ("asc", "desc")
#: Characters of the newest message read for its preview (the browser cuts it to one line).
PREVIEW_READ = 400
PREVIEW_KEEP = 240


@dataclass(frozen=True)
class Sort:
    """An order of the list: a key of :data:`SORTS` and ``asc`` or ``desc``."""

    key: str
    direction: str

    @property
    def default(self) -> bool:
        return self == chosen(None, None)


def chosen(key: str | None, direction: str | None) -> Sort:
    """The order asked for, if the list offers it: an unknown key is the default order,
    an unknown direction the key's first one."""
    if key not in SORTS:
        key = DEFAULT_SORT
    if direction not in DIRECTIONS:
        direction = SORTS[key]
    return Sort(key, direction)


def page(
    session: Session, where: Sequence[ColumnElement[bool]], sort: Sort, limit: int, offset: int
) -> list[Ticket]:
    """The live tickets matching ``where`` in this order, ``limit`` of them from ``offset``.

    An order by a value only some tickets have (a customer's name, an
    assignee's, the SLA clock, the wait) reads in two parts: the tickets that
    have it, from the other table's side (the customers' name index, say), and
    after them those without it, by id. Each part stops at the page's end,
    so a first page costs the same on any size of archive; the count of the
    first part is read only by a page that begins beyond it.
    """
    sort = chosen(sort.key, sort.direction)  # never trust a Sort built elsewhere
    ascending = sort.direction == "asc"
    key = _KEYS[sort.key]()
    # The waiting column shows a duration: the longest wait is the earliest moment.
    forward = ascending != (sort.key == "waiting")
    if key.missing is None:
        stmt = select(Ticket).where(*where).order_by(_way(key.value, forward), _by_id(ascending))
        return list(session.scalars(stmt.limit(limit).offset(offset)))
    found, valued = key.reader(session, where, key, (forward, ascending), limit, offset)
    if len(found) == limit:
        return found
    rest = select(Ticket).where(*where, key.missing).order_by(_by_id(ascending))
    more = rest.limit(limit - len(found)).offset(max(0, offset - valued))
    return found + list(session.scalars(more))


def _with_value(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    key: Key,
    ways: tuple[bool, bool],
    limit: int,
    offset: int,
) -> tuple[list[Ticket], int]:
    """The page's tickets that have the key's value, and how many have one (exact
    when the page holds fewer than ``limit`` of them)."""
    valued = select(Ticket).where(*where, *key.only)
    if key.join is not None:
        valued = valued.join(*key.join)
    first = _way(key.value, ways[0])
    if key.only:  # the value is computed for these tickets once, to sort (none: last)
        first = first.nulls_last()
    else:
        valued = valued.where(key.value.is_not(None))
    order = (first, _by_id(ways[1]))
    found = list(session.scalars(valued.order_by(*order).limit(limit).offset(offset)))
    if found or not offset:
        return found, offset + len(found)  # the valued tickets end on this page (or later)
    counted = select(func.count()).select_from(valued.with_only_columns(Ticket.id).subquery())
    return found, int(session.scalar(counted) or 0)


def _by_assignee(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    _key: Key,
    ways: tuple[bool, bool],
    limit: int,
    offset: int,
) -> tuple[list[Ticket], int]:
    """The page's assigned tickets in their assignee's name order, as :func:`_with_value`.

    A team is a few dozen people: their names are sorted here, and each
    name's tickets read by id, a short read that stops at the page's end,
    where one statement would sort every assigned ticket of the archive. The
    tickets per person are counted only for a page that begins past the first.
    """
    ascending = ways[1]  # names and ids run the same way
    name = _name(Agent.name, Agent.email)
    people = session.execute(
        select(Agent.id, name).order_by(name.asc() if ascending else name.desc(), Agent.id)
    ).all()
    groups: list[list[int]] = []  # people of one name are one group: their tickets by id
    for n, (agent_id, sort_name) in enumerate(people):
        if n and sort_name == people[n - 1][1]:
            groups[-1].append(agent_id)
        else:
            groups.append([agent_id])
    counts: dict[int, int] = {}
    if offset:
        per_person = select(Ticket.assignee_id, func.count()).where(
            *where, Ticket.assignee_id.is_not(None)
        )
        tally = session.execute(per_person.group_by(Ticket.assignee_id))
        counts = {int(a): int(n) for a, n in tally if a is not None}
    found: list[Ticket] = []
    passed = 0  # assigned tickets before this group
    for ids in groups:
        size = sum(counts.get(i, 0) for i in ids)
        if offset and passed + size <= offset:
            passed += size
            continue
        skip = max(0, offset - passed)
        stmt = select(Ticket).where(*where, Ticket.assignee_id.in_(ids)).order_by(_by_id(ascending))
        rows = list(session.scalars(stmt.limit(limit - len(found)).offset(skip)))
        found += rows
        if len(found) == limit:
            break
        passed += size if offset else len(rows)
    return found, passed


def _way(value: Any, ascending: bool) -> Any:
    return value.asc() if ascending else value.desc()


def _by_id(ascending: bool) -> ColumnElement[Any]:
    """The last word of every order: two tickets never tie."""
    return Ticket.id.asc() if ascending else Ticket.id.desc()


def _name(column: Any, fallback: Any) -> Any:
    """A person's name, or their address when the name is empty, compared without case.

    Written with the literal ``''`` (not a bound value) so that PostgreSQL
    matches it to the customers' name index in a prepared statement too.
    """
    return func.lower(func.coalesce(func.nullif(column, literal_column("''")), fallback))


@dataclass(frozen=True)
class Key:
    """A sort key: its value, the table that holds it (joined), and the condition of the
    tickets that lack it (``None``: every ticket has one)."""

    value: Any
    join: tuple[Any, ColumnElement[bool]] | None = None
    missing: ColumnElement[bool] | None = None
    #: The tickets of the first part, when it is not "those with a value": their value
    #: is computed only to sort them, and those without one end the part.
    only: tuple[ColumnElement[bool], ...] = ()
    #: How the first part is read (:func:`_with_value` unless the key knows better).
    reader: Reader = field(default_factory=lambda: _with_value)


#: Reads a page's first part: its tickets, and how many tickets the part holds.
Reader = Callable[
    [Session, Sequence[ColumnElement[bool]], "Key", tuple[bool, bool], int, int],
    tuple[list[Ticket], int],
]


def _customer() -> Key:
    return Key(
        _name(Customer.display_name, Customer.email),
        (Customer, Customer.id == Ticket.customer_id),
        Ticket.customer_id.is_(None),
    )


def _assignee() -> Key:
    return Key(
        _name(Agent.name, Agent.email),
        (Agent, Agent.id == Ticket.assignee_id),
        Ticket.assignee_id.is_(None),
        reader=_by_assignee,
    )


def _status() -> Key:
    """The statuses in the order people read them (the tabs' order), not alphabetical."""
    rank = {status: n for n, status in enumerate(STATUSES)}
    return Key(case(rank, value=Ticket.status, else_=len(STATUSES)))


def _sla() -> Key:
    due = _nearest(TicketSla)
    clocked = select(TicketSla.ticket_id).where(TicketSla.ticket_id == Ticket.id, due.is_not(None))
    return Key(due, (TicketSla, TicketSla.ticket_id == Ticket.id), ~clocked.exists())


def _waiting() -> Key:
    """Only an open ticket waits on an agent. The open tickets come first, those whose
    customer waits by how long, then those whose customer has been answered; after
    them the other statuses (:func:`page`'s second part)."""
    waits = Ticket.status == Status.OPEN.value
    return Key(_customer_waits_since(), None, ~waits, (waits,))


def _nearest(clock: Any) -> ColumnElement[Any]:
    """The nearer due moment of a ticket's two SLA clocks."""
    response, resolution = clock.response_due, clock.resolution_due
    return case(
        (response.is_(None), resolution),
        (resolution.is_(None), response),
        (response <= resolution, response),
        else_=resolution,
    )


def waiting_since() -> ColumnElement[Any]:
    """Since when the customer has waited for an answer, while the ticket waits on an agent.

    The first customer message after the ticket's latest reply, in the mail's
    own time: the moment the SLA's response clock counts from too, so a
    customer who writes again ("any news?") keeps their place in the queue.
    Only an open ticket waits on an agent (pending waits on the customer;
    resolved and closed on nobody); any other has no value.
    """
    return case((Ticket.status == Status.OPEN.value, _customer_waits_since()), else_=None)


def _customer_waits_since() -> ColumnElement[Any]:
    """The first customer message after the ticket's latest reply, whatever its status."""
    mine, reply = aliased(Message), aliased(Message)
    # Of the ticket, not of each message: looked up once a ticket.
    last_reply = (
        select(func.max(reply.created_at))
        .where(reply.ticket_id == Ticket.id, reply.kind == "reply")
        .correlate(Ticket)
        .scalar_subquery()
    )
    return (
        select(func.min(func.coalesce(mine.sent_at, mine.created_at)))
        .where(
            mine.ticket_id == Ticket.id,
            mine.kind == "customer",
            or_(last_reply.is_(None), mine.created_at > last_reply),
        )
        .scalar_subquery()
    )


_KEYS: dict[str, Callable[[], Key]] = {
    "number": lambda: Key(Ticket.number),
    "customer": _customer,
    "status": _status,
    "assignee": _assignee,
    "waiting": _waiting,
    "sla": _sla,
    "updated": lambda: Key(Ticket.updated_at),
}


def details(session: Session, tickets: Sequence[Ticket]) -> dict[int, dict[str, Any]]:
    """What the table shows of each ticket beyond the command line's fields, by ticket id:
    the customer's name and address, the assignee's name, a preview of the newest
    message (and whether it is the desk's reply), and since when the customer waits."""
    ids = [t.id for t in tickets]
    if not ids:
        return {}
    people = _customers(session, {t.customer_id for t in tickets if t.customer_id})
    team = _agents(session, {t.assignee_id for t in tickets if t.assignee_id})
    previews = _previews(session, ids)
    waits = _waits(session, ids)
    found: dict[int, dict[str, Any]] = {}
    for t in tickets:
        name, email = people.get(t.customer_id or 0, ("", ""))
        preview, replied = previews.get(t.id, ("", False))
        found[t.id] = {
            "customer_name": name,
            "customer_email": email,
            "assignee_name": team.get(t.assignee_id or 0, ""),
            "preview": preview,
            "preview_is_reply": replied,
            "waiting_since": iso(waits.get(t.id)),
        }
    return found


def _customers(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    stmt = select(Customer.id, Customer.display_name, Customer.email).where(Customer.id.in_(ids))
    return {cid: (name or "", email) for cid, name, email in session.execute(stmt)}


def _agents(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(Agent.id, Agent.name, Agent.email).where(Agent.id.in_(ids))
    return {aid: name or email for aid, name, email in session.execute(stmt)}


def _previews(session: Session, ids: list[int]) -> dict[int, tuple[str, bool]]:
    """The first words of each ticket's newest message both sides see (the customer's mail
    or a reply to it; internal notes stay on the ticket page), quoted history trimmed."""
    visible = ((Message.direction == "inbound") & (Message.kind == "customer")) | (
        (Message.direction == "outbound") & (Message.kind == "reply")
    )
    newest = (
        select(func.max(Message.id))
        .where(Message.ticket_id.in_(ids), visible)
        .group_by(Message.ticket_id)
    )
    words = case((Message.trimmed_text != "", Message.trimmed_text), else_=Message.body_text)
    stmt = select(Message.ticket_id, Message.direction, func.substr(words, 1, PREVIEW_READ)).where(
        Message.id.in_(newest)
    )
    return {
        tid: (" ".join((text or "").split())[:PREVIEW_KEEP], direction == "outbound")
        for tid, direction, text in session.execute(stmt)
    }


def _waits(session: Session, ids: list[int]) -> dict[int, datetime]:
    stmt = select(Ticket.id, waiting_since()).where(Ticket.id.in_(ids))
    return {tid: at for tid, at in session.execute(stmt) if at is not None}
