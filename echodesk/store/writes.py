"""Set-at-a-time writes for a decided batch: few statements, many rows each.

The pipeline hands over plain rows (dictionaries of column values); each
function writes them at once through :mod:`echodesk.store.bulk` (on PostgreSQL
one statement a table, on SQLite one compiled statement run over every row),
so a batch of hundreds of messages costs a few dozen statements instead of
thousands of ORM flushes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.orm import Session

from echodesk.store import bulk, searchindex
from echodesk.store.models import (
    Attachment,
    AuditLog,
    Counter,
    Customer,
    InboundSpool,
    Message,
    MessageReference,
    Ticket,
    TicketFollower,
    TicketParticipant,
    TicketTag,
)

Row = dict[str, Any]


def _table(model: type[Any]) -> Table:
    """The Core table of a model: writes here bypass the ORM unit of work."""
    return cast(Table, model.__table__)


def insert_ignore(
    session: Session, model: type[Any], rows: Sequence[Row], conflict: list[str]
) -> None:
    bulk.insert_rows(session.connection(), _table(model), rows, conflict=conflict)


def allocate_numbers(session: Session, count: int) -> list[int]:
    """``count`` new ticket numbers, in increasing order (unique under concurrency)."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        stmt = text("SELECT nextval('ticket_number_seq') FROM generate_series(1, :n)")
        return sorted(int(n) for n in session.execute(stmt, {"n": count}).scalars())
    stmt = text(
        "UPDATE counters SET value = value + :n WHERE name = 'ticket_number' RETURNING value"
    )
    last = int(session.execute(stmt, {"n": count}).scalar_one())
    return list(range(last - count + 1, last + 1))


def upsert_customers(session: Session, people: dict[str, tuple[str, datetime]]) -> dict[str, int]:
    """Make sure a customer row exists per address; return their ids.

    ``people`` maps a lower-cased address to (display name, seen at). Names
    fill an empty name; seen times widen first/last seen.
    """
    if not people:
        return {}
    insert_ignore(
        session,
        Customer,
        [
            {"email": e, "display_name": n, "first_seen_at": t, "last_seen_at": t}
            for e, (n, t) in people.items()
        ],
        ["email"],
    )
    ids: dict[str, int] = {}
    changes: list[Row] = []
    emails = list(people)
    for start in range(0, len(emails), 500):
        stmt = select(
            Customer.id,
            Customer.email,
            Customer.display_name,
            Customer.first_seen_at,
            Customer.last_seen_at,
        ).where(Customer.email.in_(emails[start : start + 500]))
        for cid, email, name, first, last in session.execute(stmt):
            ids[email] = cid
            new_name, seen = people[email]
            fixed = {
                "b_id": cid,
                "display_name": name or new_name,
                "first_seen_at": min(first, seen),
                "last_seen_at": max(last, seen),
            }
            if (fixed["display_name"], fixed["first_seen_at"], fixed["last_seen_at"]) != (
                name,
                first,
                last,
            ):
                changes.append(fixed)
    update_by_id(session, Customer, changes)
    return ids


def _insert_keyed(session: Session, model: type[Any], rows: Sequence[Row], key: str) -> list[int]:
    """Insert rows and return their ids in order, found again by a unique column.

    ``INSERT ... RETURNING`` in parameter order makes SQLAlchemy fall back to
    one statement per row on SQLite; one plain multi-row insert plus one
    select by the unique key is a few statements for the whole batch.
    """
    if not rows:
        return []
    table = _table(model)
    insert_rows(session, model, rows)
    return _ids_by(session, table, rows, key)


def _ids_by(session: Session, table: Table, rows: Sequence[Row], key: str) -> list[int]:
    """The ids of just-inserted rows, in order, by their unique ``key`` column."""
    wanted = [row[key] for row in rows]
    found: dict[Any, int] = {}
    column = table.c[key]
    for start in range(0, len(wanted), 500):
        stmt = select(column, table.c.id).where(column.in_(wanted[start : start + 500]))
        found.update((k, int(i)) for k, i in session.connection().execute(stmt))
    return [found[k] for k in wanted]


def update_by_id(session: Session, model: type[Any], rows: Sequence[Row]) -> None:
    """``UPDATE model SET ... WHERE id = :b_id`` for each row (same keys in every row)."""
    if not rows:
        return
    by_shape: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for group in by_shape.values():
        bulk.update_rows(session.connection(), _table(model), group)


def update_tickets(session: Session, rows: Sequence[Row]) -> None:
    """Write the changed columns of many tickets (``b_id`` names each)."""
    update_by_id(session, Ticket, rows)


def insert_rows(session: Session, model: type[Any], rows: Sequence[Row]) -> None:
    bulk.insert_rows(session.connection(), _table(model), rows)


def insert_references(session: Session, rows: Sequence[Row]) -> None:
    insert_rows(session, MessageReference, rows)


def insert_participants(session: Session, rows: Sequence[Row]) -> None:
    insert_ignore(session, TicketParticipant, rows, ["ticket_id", "email"])


def add_tags(session: Session, ticket_id: int, tags: Sequence[str]) -> None:
    """Tag a ticket (a tag it already has stays once)."""
    insert_tags(session, [{"ticket_id": ticket_id, "tag": tag} for tag in tags])


def insert_tags(session: Session, rows: Sequence[Row]) -> None:
    """Tag tickets (``ticket_id``, ``tag`` rows); the tickets' words of the search
    index (PostgreSQL) hold their tags too."""
    insert_ignore(session, TicketTag, rows, ["ticket_id", "tag"])
    searchindex.refresh_ticket_words(session, sorted({int(r["ticket_id"]) for r in rows}))


def remove_tags(session: Session, ticket_id: int, tags: Sequence[str]) -> None:
    table = _table(TicketTag)
    where = (table.c.ticket_id == ticket_id) & table.c.tag.in_(list(tags))
    session.connection().execute(delete(table).where(where))
    searchindex.refresh_ticket_words(session, [ticket_id])


def set_following(session: Session, ticket_id: int, agent_id: int, following: bool) -> None:
    """Record an agent's ``#follow`` or ``#unfollow`` (the last one said counts)."""
    table = _table(TicketFollower)
    where = (table.c.ticket_id == ticket_id) & (table.c.agent_id == agent_id)
    session.connection().execute(delete(table).where(where))
    session.connection().execute(
        table.insert().values(ticket_id=ticket_id, agent_id=agent_id, following=following)
    )


def add_participants(session: Session, ticket_id: int, emails: Sequence[str], role: str) -> None:
    """Add people to a ticket (one already there keeps their role)."""
    insert_participants(
        session, [{"ticket_id": ticket_id, "email": e, "role": role} for e in emails]
    )


def insert_attachments(session: Session, rows: Sequence[Row]) -> None:
    """Insert attachments (their names reached the index through :func:`insert_messages`)."""
    insert_rows(session, Attachment, rows)


def insert_audit(session: Session, rows: Sequence[Row]) -> None:
    insert_rows(session, AuditLog, rows)


def open_tickets(session: Session, rows: Sequence[Row]) -> list[tuple[int, int]]:
    """Insert new tickets, each given the next ticket number; (id, number) of each, in order.

    Every ticket Echo opens comes through here, whether from customer mail, an
    agent's ``#new`` or a webhook, so numbers are allocated one way.
    """
    numbers = allocate_numbers(session, len(rows))
    numbered = [{**row, "number": n} for row, n in zip(rows, numbers, strict=True)]
    ids = _insert_keyed(session, Ticket, numbered, "number")
    return list(zip(ids, numbers, strict=True))


def insert_messages(
    session: Session, rows: Sequence[Row], file_names: Sequence[Sequence[str]] | None = None
) -> list[int]:
    """Insert new messages (unique Message-IDs), indexed for search; their ids in order.

    ``file_names`` (one list per row) are the names of the files the caller
    attaches next with :func:`insert_attachments`: words of the index too.
    """
    if not rows:
        return []
    if session.connection().dialect.name == "postgresql":
        # The search vector goes in with the row: no second write of each message.
        searchindex.insert_indexed(session, _table(Message), rows, file_names)
        ids = _ids_by(session, _table(Message), rows, "message_id")
        searchindex.add_ticket_words(session, ids)
        return ids
    ids = _insert_keyed(session, Message, rows, "message_id")
    files = dict(zip(ids, file_names, strict=True)) if file_names is not None else None
    searchindex.index_rows(session, ids, rows, files, fresh=True)
    return ids


_SPOOL_RESULT = (
    "from_header",
    "subject",
    "state",
    "kind",
    "message_id",
    "content_hash",
    "ticket_id",
    "detail",
    "processed_at",
)


def finish_spool_rows(session: Session, rows: Sequence[Row]) -> None:
    """Record each row's result (state, kind, ticket...) and count the attempt."""
    also = {"attempts": "inbound_spool.attempts + 1", "last_error": "''"}
    results = [_spool_result(row) for row in rows]
    bulk.update_rows(session.connection(), _table(InboundSpool), results, also=also)


def _spool_result(row: Row) -> Row:
    """The keys of a spool row's result, in one order (every row of a batch the same)."""
    return {"b_id": row["b_id"], **{name: row[name] for name in _SPOOL_RESULT}}


def move_messages(session: Session, from_ticket: int, to_ticket: int) -> int:
    """Re-home every message, participant and tag of one ticket in another; messages moved."""
    conn = session.connection()
    messages = _table(Message)
    result = conn.execute(
        update(messages).where(messages.c.ticket_id == from_ticket).values(ticket_id=to_ticket)
    )
    people = _table(TicketParticipant)
    rows = conn.execute(
        select(people.c.email, people.c.role).where(people.c.ticket_id == from_ticket)
    )
    insert_participants(session, [{"ticket_id": to_ticket, "email": e, "role": r} for e, r in rows])
    tags = _table(TicketTag)
    found = conn.execute(select(tags.c.tag).where(tags.c.ticket_id == from_ticket)).scalars()
    insert_ignore(
        session,
        TicketTag,
        [{"ticket_id": to_ticket, "tag": t} for t in found],
        ["ticket_id", "tag"],
    )
    searchindex.refresh_ticket_words(session, [from_ticket, to_ticket])
    return int(result.rowcount)


def take_turn(session: Session, name: str) -> int:
    """Advance the named counter by one and return its new value (1 the first time).

    The update is atomic, so turns (a rule's round-robin) rotate fairly across
    workers and restarts.
    """
    insert_ignore(session, Counter, [{"name": name, "value": 0}], ["name"])
    stmt = text("UPDATE counters SET value = value + 1 WHERE name = :n RETURNING value")
    return int(session.execute(stmt, {"n": name}).scalar_one())
