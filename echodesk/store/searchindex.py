"""The full-text index of messages: SQLite FTS5 or PostgreSQL tsvector, fed the same words.

Both databases are given text that Python has already cut into words
(:func:`words`: lower case, every run of non-letters/digits a space), so
"alice@example.com", "Re: Drucker-Problem" or "TKT-0042" become the same
tokens on SQLite and PostgreSQL, and a query finds the same tickets on
both. Four fields per message, weighted for ranking: subject, body (with
the names of the message's attached files, so "invoice-2026.pdf" is found
by its words through the same index), sender (address and name) and
recipients.

Every write of a message reaches the index: the batch pipeline's multi-row
inserts call :func:`index_rows` (given the names of the files it is about
to attach); messages and attachments added through the ORM (replies,
notes, acknowledgements) are indexed by a flush hook (:func:`watch`);
erasure calls :func:`reindex`. On PostgreSQL each ticket's words are also kept
whole (``ticket_words``): :func:`add_ticket_words` adds a batch's new messages,
and every other write reads the ticket's words again from its messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Table,
    event,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from echodesk.store import bulk
from echodesk.store.models import Attachment, Message

_NON_WORD = re.compile(r"[\W_]+")
MAX_BODY = 200_000  # characters of a body that are indexed
#: SQLite: (id, ticket_id) of every message, so that a search finds the ticket of each
#: matching message without reading the wide messages table (migration 0023).
ID_TICKET_INDEX = "ix_messages_id_ticket"
#: The words of every message of a ticket, stripped of positions and weights, in one
#: tsvector with a GIN index of its own: words are intersected ticket by ticket there.
#: NULL when they would pass a tsvector's size (the ticket is then always a candidate).
TICKET_WORDS = "ticket_words"


def outside_the_models(name: str | None, type_: str) -> bool:
    """Schema objects the search migrations make that the models do not describe
    (the FTS5 table and its shadow tables, the tsvector column, the GIN indexes,
    SQLite's index of each message's ticket)."""
    if type_ == "table":
        return bool(name and (name.startswith("message_fts") or name == TICKET_WORDS))
    if type_ == "column":
        return name == "search_vector"
    if type_ == "index":
        searched = ("ix_messages_search_vector", ID_TICKET_INDEX)
        kept = bool(name and name.startswith(f"ix_{TICKET_WORDS}_"))
        return bool(name and (name.endswith("_trgm") or name in searched or kept))
    return False


def words(value: str) -> str:
    """The searchable words of a text: lower case, separated by single spaces."""
    return _NON_WORD.sub(" ", value.lower()).strip()


def _addresses(values: Any) -> str:
    if isinstance(values, list):
        return " ".join(str(v) for v in values)
    return str(values or "")


def document(row: dict[str, Any] | Message, files: Sequence[str] = ()) -> tuple[str, str, str, str]:
    """(subject, body, sender, recipients) of a message, as words; ``files`` are
    the names of its attachments, indexed with the body."""
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    subject = words(str(get("subject", "") or ""))
    body = words(str(get("body_text", "") or "")[:MAX_BODY] + " " + " ".join(files))
    sender = words(f"{get('from_email', '') or ''} {get('from_name', '') or ''}")
    recipients = words(f"{_addresses(get('to_addrs', []))} {_addresses(get('cc_addrs', []))}")
    return subject, body, sender, recipients


#: A message's parts in its search vector (PostgreSQL), with their weights: subject first.
_PARTS = (("subject", "A"), ("body", "B"), ("sender", "C"), ("recipients", "D"))


def _vector(value: str) -> str:
    """The SQL of a search vector; ``value`` names each part's text (``{}`` the part)."""
    return " || ".join(
        f"setweight(to_tsvector('simple', {value.format(part)}), '{weight}')"
        for part, weight in _PARTS
    )


_PG_VECTOR = _vector(":{}")


def index_rows(
    session: Session,
    pks: Sequence[int],
    rows: Sequence[dict[str, Any] | Message],
    files: Mapping[int, Sequence[str]] | None = None,
    *,
    fresh: bool = False,
) -> None:
    """Add (or replace) the index entries of these messages; ``files`` are their
    attachments' names by message id (looked up when not given). ``fresh``: the
    messages were inserted just now, so there is no old entry to remove."""
    if not pks:
        return
    if files is None:
        files = file_names(session, pks)
    documents = (document(row, files.get(pk, ())) for pk, row in zip(pks, rows, strict=True))
    params = [
        {"id": pk, "subject": s, "body": b, "sender": f, "recipients": r}
        for pk, (s, b, f, r) in zip(pks, documents, strict=True)
    ]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"UPDATE messages SET search_vector = {_PG_VECTOR} WHERE id = :id"), params
        )
        _ticket_words_again(session, pks)
        return
    if not fresh:
        conn.execute(
            text("DELETE FROM message_fts WHERE rowid = :id"), [{"id": p["id"]} for p in params]
        )
    conn.execute(
        text(
            "INSERT INTO message_fts (rowid, subject, body, sender, recipients) "
            "VALUES (:id, :subject, :body, :sender, :recipients)"
        ),
        params,
    )


def insert_indexed(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    file_names: Sequence[Sequence[str]] | None,
) -> None:
    """PostgreSQL: insert message rows with their search vector in the same statement
    (column defaults apply as for any insert); ``file_names``, one list per row, are
    the files about to be attached."""
    params = []
    for n, row in enumerate(rows):
        files = file_names[n] if file_names is not None else ()
        subject, body, sender, recipients = document(row, files)
        params.append(
            {
                **row,
                "v_subject": subject,
                "v_body": body,
                "v_sender": sender,
                "v_recipients": recipients,
            }
        )
    bulk.insert_rows(
        session.connection(),
        table,
        params,
        inputs={f"v_{part}": "text" for part, _ in _PARTS},
        computed={"search_vector": _vector("v.v_{}")},
    )


# -- each ticket's words (PostgreSQL, migration 0026) -----------------------------------------


def add_ticket_words(session: Session, pks: Sequence[int]) -> None:
    """PostgreSQL: add the words of these new messages to their tickets' words (with
    the tickets' tags, for a ticket that had none)."""
    session.connection().execute(
        text(
            "INSERT INTO ticket_words (ticket_id, words) SELECT ticket_id, echo_words_add("
            "echo_ticket_words(search_vector ORDER BY id), echo_tag_words(ticket_id)) "
            "FROM messages WHERE id = ANY(:ids) "
            "GROUP BY ticket_id ORDER BY ticket_id ON CONFLICT (ticket_id) DO UPDATE "
            "SET words = echo_words_add(ticket_words.words, excluded.words)"
        ),
        {"ids": list(pks)},
    )


def _ticket_words_again(session: Session, pks: Sequence[int]) -> None:
    """PostgreSQL: the words of these messages' tickets, read again (a message changed:
    erased, or given files)."""
    found = session.connection().execute(
        text("SELECT DISTINCT ticket_id FROM messages WHERE id = ANY(:ids)"), {"ids": list(pks)}
    )
    refresh_ticket_words(session, [int(t) for t in found.scalars()])


def refresh_ticket_words(session: Session, tickets: Sequence[int]) -> None:
    """PostgreSQL: these tickets' words, read again from all their messages and tags
    (after an erasure, messages moved from one ticket to another, tags changed). The
    tickets' rows are locked first, so that a message added meanwhile is either seen
    or added after."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or not tickets:
        return
    ids = {"ids": sorted(set(tickets))}
    conn.execute(
        text(
            "SELECT 1 FROM ticket_words WHERE ticket_id = ANY(:ids) ORDER BY ticket_id FOR UPDATE"
        ),
        ids,
    )
    conn.execute(text("DELETE FROM ticket_words WHERE ticket_id = ANY(:ids)"), ids)
    conn.execute(
        text(
            "INSERT INTO ticket_words (ticket_id, words) SELECT t.id, echo_words_add("
            "(SELECT echo_ticket_words(m.search_vector ORDER BY m.id) FROM messages m "
            "WHERE m.ticket_id = t.id), echo_tag_words(t.id)) "
            "FROM tickets t WHERE t.id = ANY(:ids) ORDER BY t.id "
            "ON CONFLICT (ticket_id) DO UPDATE SET words = excluded.words"
        ),
        ids,
    )


def file_names(session: Session, pks: Sequence[int]) -> dict[int, list[str]]:
    """The names of the (not erased) files attached to these messages."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(pks), 500):
        rows = session.execute(
            select(Attachment.message_pk, Attachment.filename).where(
                Attachment.message_pk.in_(pks[start : start + 500]),
                Attachment.erased_at.is_(None),
            )
        )
        for pk, name in rows:
            found.setdefault(pk, []).append(name or "")
    return found


def reindex(session: Session, pks: Iterable[int]) -> None:
    """Index these messages again from what they hold now (after erasure, say)."""
    wanted = sorted(set(pks))
    for start in range(0, len(wanted), 500):
        found = list(
            session.scalars(select(Message).where(Message.id.in_(wanted[start : start + 500])))
        )
        index_rows(session, [m.id for m in found], found)


def _after_flush(session: Session, _context: Any) -> None:
    """Index messages the ORM has just inserted or changed (replies, notes, erasure)."""
    changed = [obj for obj in session.new if isinstance(obj, Message)]
    changed += [
        obj for obj in session.dirty if isinstance(obj, Message) and session.is_modified(obj)
    ]
    if changed:
        index_rows(session, [m.id for m in changed], changed)
    done = {m.id for m in changed}
    files = {
        obj.message_pk
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Attachment) and obj.message_pk not in done
    }
    if files:
        reindex(session, files)


def watch(sessions: sessionmaker[Session]) -> None:
    """Keep the index current for every session these factories make."""
    event.listen(sessions, "after_flush", _after_flush)


__all__ = [
    "ID_TICKET_INDEX",
    "TICKET_WORDS",
    "add_ticket_words",
    "document",
    "file_names",
    "index_rows",
    "outside_the_models",
    "refresh_ticket_words",
    "reindex",
    "watch",
    "words",
]
