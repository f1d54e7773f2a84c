"""Read models: tickets, conversations and spool rows as plain dictionaries.

Shared by the command line (``--json``) and the web archive, so both show the
same fields under the same names. Dictionaries hold only JSON-ready values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.store import ratings, sla
from echodesk.store import tickets as ticket_queries
from echodesk.store.models import (
    Agent,
    Attachment,
    Customer,
    InboundSpool,
    Message,
    Ticket,
)
from echodesk.store.spool import STATES, rows
from echodesk.store.types import utcnow

Row = dict[str, Any]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def read_iso(value: str) -> datetime | None:
    """A time as :func:`iso` wrote it, read back for display (the command line and
    the web archive show it each in their own way); None for text that is not one."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def ticket_list(
    session: Session,
    settings: Settings,
    *,
    status: str | None = None,
    include_merged: bool = False,
) -> list[Row]:
    stmt = select(Ticket).order_by(Ticket.number)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if not include_merged:
        stmt = stmt.where(Ticket.merged_into_id.is_(None))
    found = list(session.scalars(stmt))
    return _summaries(session, settings, found)


def _summaries(session: Session, settings: Settings, found: Sequence[Ticket]) -> list[Row]:
    ids = [t.id for t in found]
    tags = ticket_queries.tags_of(session, ids)
    counts = ticket_queries.message_counts(session, ids)
    people = _customers(session, [t.customer_id for t in found if t.customer_id])
    agents = _agents(session, [t.assignee_id for t in found if t.assignee_id])
    labels = _labels(session, settings, [t.merged_into_id or t.followup_of_id for t in found])
    slas = sla.marks(session, ids, utcnow()) if settings.sla else {}
    rated = ratings.of_tickets(session, ids)
    return [
        {
            "number": settings.ticket_label(t.number),
            "status": t.status,
            "priority": t.priority,
            "subject": t.subject,
            "customer": people.get(t.customer_id or 0),
            "assignee": agents.get(t.assignee_id or 0),
            "tags": tags.get(t.id, []),
            "messages": counts.get(t.id, 0),
            "created_at": iso(t.created_at),
            "updated_at": iso(t.updated_at),
            "closed_at": iso(t.closed_at),
            "snoozed_until": iso(t.snoozed_until),
            "sla": slas.get(t.id),
            "rating": rated.get(t.id),
            "merged_into": labels.get(t.merged_into_id or 0),
            "followup_of": labels.get(t.followup_of_id or 0),
        }
        for t in found
    ]


def _customers(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(Customer.id, Customer.email).where(Customer.id.in_(ids))
    return {cid: email for cid, email in session.execute(stmt)}


def _agents(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(Agent.id, Agent.email).where(Agent.id.in_(ids))
    return {aid: email for aid, email in session.execute(stmt)}


def _labels(session: Session, settings: Settings, ids: list[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    stmt = select(Ticket.id, Ticket.number).where(Ticket.id.in_(wanted))
    return {tid: settings.ticket_label(num) for tid, num in session.execute(stmt)}


def ticket_detail(session: Session, settings: Settings, ticket: Ticket) -> Row:
    """A ticket with its whole conversation, oldest message first."""
    summary = _summaries(session, settings, [ticket])[0]
    messages = list(
        session.scalars(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id))
    )
    files = _attachments(session, [m.id for m in messages])
    summary["messages"] = [_message(m, files.get(m.id, [])) for m in messages]
    return summary


def message_details(session: Session, messages: list[Message]) -> list[Row]:
    """Messages in the form :func:`ticket_detail` lists them."""
    files = _attachments(session, [m.id for m in messages])
    return [_message(m, files.get(m.id, [])) for m in messages]


def _attachments(session: Session, message_ids: list[int]) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = {}
    if not message_ids:
        return out
    stmt = select(Attachment).where(Attachment.message_pk.in_(message_ids)).order_by(Attachment.id)
    for a in session.scalars(stmt):
        out.setdefault(a.message_pk, []).append(
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "inline": a.inline,
            }
        )
    return out


def cut_part(body: str, trimmed: str) -> str:
    """What trimming took away from a message: the quoted history and signature below
    (or around) the words shown; '' when it took nothing but blank space."""
    whole = body.replace("\r\n", "\n")
    kept = trimmed.replace("\r\n", "\n").strip()
    if not kept or whole.strip() == kept:
        return ""
    at = whole.find(kept)
    if at < 0:
        return whole.strip()  # the shown words are not a piece of it: show it all
    return (whole[:at] + whole[at + len(kept) :]).strip()


def _message(m: Message, files: list[Row]) -> Row:
    return {
        "direction": m.direction,
        "kind": m.kind,
        "message_id": m.message_id,
        "from": m.from_email,
        "from_name": m.from_name,
        "to": m.to_addrs,
        "cc": m.cc_addrs,
        "subject": m.subject,
        "date": iso(m.sent_at),
        "received_at": iso(m.created_at),
        "body_text": m.body_text,
        "trimmed_text": m.trimmed_text,
        "quoted_part": cut_part(m.body_text, m.trimmed_text),
        "thread_reason": m.thread_reason,
        "sender_auth": m.sender_auth,
        "auth_results": m.auth_results,
        "attachments": files,
    }


def iter_ticket_details(session: Session, settings: Settings) -> Iterator[Row]:
    """Every live ticket with its conversation, in number order (a stream)."""
    stmt = select(Ticket).where(Ticket.merged_into_id.is_(None)).order_by(Ticket.number)
    for ticket in session.scalars(stmt).all():
        yield ticket_detail(session, settings, ticket)


def spool_list(session: Session, settings: Settings, state: str | None = None) -> list[Row]:

    found = rows(session, state)
    labels = _numbers(session, settings, [r.ticket_id for r in found if r.ticket_id])
    return [_spool_row(r, labels) for r in found]


def spool_counts(session: Session) -> dict[str, int]:
    """How many spool rows are in each state (every state, in the spool's order).

    A listing of one state that comes back empty says where the messages are
    instead, so "no failed messages" is not read as "no messages".
    """
    stmt = select(InboundSpool.state, func.count()).group_by(InboundSpool.state)
    found = {state: int(n) for state, n in session.execute(stmt)}
    return {state: found.get(state, 0) for state in STATES} | {
        state: n for state, n in found.items() if state not in STATES
    }


def _numbers(session: Session, settings: Settings, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    out: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = select(Ticket.id, Ticket.number).where(Ticket.id.in_(chunk))
        out.update({tid: settings.ticket_label(num) for tid, num in session.execute(stmt)})
    return out


def _spool_row(r: InboundSpool, labels: dict[int, str]) -> Row:
    return {
        "id": r.id,
        "source": r.source,
        "source_ref": r.source_ref,
        "received_at": iso(r.received_at),
        "from": r.from_header,
        "subject": r.subject,
        "size": r.size,
        "message_id": r.message_id,
        "state": r.state,
        "kind": r.kind,
        "ticket": labels.get(r.ticket_id or 0),
        "attempts": r.attempts,
        "last_error": r.last_error,
        "detail": r.detail,
        "next_attempt_at": iso(r.next_attempt_at) if r.state == "pending" else None,
    }
