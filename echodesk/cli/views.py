"""How the listing and reading commands print for people (``--json`` is for scripts).

The read models (:mod:`echodesk.store.readmodels`) hold None where a value is
unknown: a note has no Date, a sent reply no threading reason, an erased
customer no address. Printed as they are, those became ``at None`` and empty
``()``; here every line says only what is known, and listings go through
:mod:`echodesk.cli.table` so that one long subject cannot wreck the columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from echodesk.cli.table import Column, cut, one_line, render
from echodesk.store.readmodels import read_iso

Row = Mapping[str, Any]

TICKET_COLUMNS = (
    Column(14),  # number
    Column(8),  # status
    Column(9, right=True),  # "12 msg"
    Column(32),  # customer
    Column(60),  # subject
    Column(40),  # tags
)
SPOOL_COLUMNS = (
    Column(8, right=True),  # id
    Column(11),  # state
    Column(12),  # kind
    Column(14),  # ticket
    Column(4, right=True),  # attempts
    Column(48),  # message-id
    Column(80),  # error or detail
)
OUTBOX_COLUMNS = (
    Column(8, right=True),  # id
    Column(10),  # state
    Column(12),  # purpose
    Column(14),  # ticket
    Column(4, right=True),  # attempts
    Column(40),  # recipient
    Column(80),  # reason or error
)
AGENT_COLUMNS = (Column(40), Column(10), Column(30), Column(10), Column(60))
QUARANTINE_COLUMNS = (Column(8, right=True), Column(40), Column(60), Column(60))
SEARCH_COLUMNS = (Column(14), Column(8), Column(32), Column(70))


def when(value: str | None) -> str:
    """``2024-05-01 09:30 UTC`` for a stored ISO time; '' when there is none."""
    moment = read_iso(value) if value else None
    if moment is None:
        return value or ""
    if moment.utcoffset() is None or moment.utcoffset() == UTC.utcoffset(None):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M %z")


def tag_list(tags: Sequence[str]) -> str:
    return f"[{', '.join(tags)}]" if tags else ""


def _snoozed(r: Row) -> str:
    until = r.get("snoozed_until")
    return f" snoozed until {when(until)}" if until else ""


def sla_mark(r: Row) -> str:
    """``SLA breached`` or ``SLA first response due 2026-11-30 11:00 UTC``; '' without SLA."""
    mark = r.get("sla")
    if not mark:
        return ""
    if mark["breached"]:
        return "SLA breached"
    if mark["due"]:
        return f"SLA {mark['target'].replace('_', ' ')} due {when(mark['due'])}"
    return ""


def _marks(r: Row) -> str:
    return "".join(f" {m}" for m in (_snoozed(r).strip(), sla_mark(r)) if m)


def ticket_lines(rows: Sequence[Row]) -> list[str]:
    """The ``tickets`` listing: number, status, messages, customer, subject, tags."""
    return render(
        [
            (
                r["number"],
                r["status"],
                f"{r['messages']} msg",
                r["customer"],
                r["subject"] or "(no subject)",
                tag_list(r["tags"]) + _marks(r),
            )
            for r in rows
        ],
        TICKET_COLUMNS,
    )


def spool_lines(rows: Sequence[Row]) -> list[str]:
    """The ``spool`` listing: id, state, kind, ticket, attempts, Message-ID, what happened."""
    return _queue_lines(rows, SPOOL_COLUMNS, "kind", "message_id", ("last_error", "detail"))


def _queue_lines(
    rows: Sequence[Row], columns: Any, kind: str, who: str, why: tuple[str, ...]
) -> list[str]:
    """A queue's listing (the spool's or the outbox's rows): the same seven columns."""
    return render(
        [
            (
                r["id"],
                r["state"],
                r[kind],
                r["ticket"],
                f"{r['attempts']}x",
                r[who],
                next((r[k] for k in why if r[k]), ""),
            )
            for r in rows
        ],
        columns,
    )


def spool_none(state: str | None, counts: Mapping[str, int]) -> str:
    """What an empty listing says: whether the spool is empty or only this state is.

    "The spool is empty" over hundreds of processed messages sent people looking
    for lost mail; the counts by state show where the messages are.
    """
    held = {name: n for name, n in counts.items() if n}
    if not held:
        return "the spool is empty"
    by_state = ", ".join(f"{name} {n}" for name, n in held.items())
    return f"no {state} messages in the spool; by state: {by_state}"


def _sender(m: Row) -> str:
    address, name = m.get("from") or "", m.get("from_name") or ""
    if name and address:
        return f"{name} <{address}>"
    return name or address


def _heading(m: Row) -> str:
    """``--- inbound customer from Alice <alice@example.com> at 2024-05-01 09:30 UTC``."""
    parts = ["---", m["direction"], m["kind"]]
    sender = _sender(m)
    if sender:
        parts.append(f"from {sender}")
    moment = when(m.get("date") or m.get("received_at"))
    if moment:
        parts.append(f"at {moment}")
    reason = m.get("thread_reason")
    return " ".join(p for p in parts if p) + (f"  ({reason})" if reason else "")


def _about(d: Row) -> list[str]:
    facts = [
        f"status {d['status']}",
        f"priority {d['priority']}",
        f"customer {d['customer'] or 'unknown'}",
        f"assignee {d['assignee'] or 'nobody'}",
    ]
    if d.get("snoozed_until"):
        facts.append(_snoozed(d).strip())
    if sla_mark(d):
        facts.append(sla_mark(d))
    if d.get("rating"):
        facts.append(f"rated {d['rating']['rating']} by the customer")
    lines = [f"{d['number']}  {d['subject'] or '(no subject)'}", "  " + ", ".join(facts)]
    if d.get("tags"):
        lines.append(f"  tags {', '.join(d['tags'])}")
    if d.get("rating") and d["rating"]["comment"]:
        lines.append(f"  the customer's comment: {d['rating']['comment']}")
    if d.get("followup_of"):
        lines.append(f"  follow-up of {d['followup_of']}")
    if d.get("merged_into"):
        lines.append(f"  merged into {d['merged_into']}")
    return lines


def _attachment(a: Row) -> str:
    facts = [a.get("content_type") or "", f"{a.get('size') or 0} bytes"]
    return f"  [attachment] {a.get('filename') or '(no name)'} ({', '.join(f for f in facts if f)})"


def conversation_lines(d: Row) -> list[str]:
    """A ticket for ``show``: what it is (tags included), then every message in order."""
    lines = _about(d)
    for m in d["messages"]:
        lines += ["", _heading(m), (m.get("trimmed_text") or m.get("body_text") or "").rstrip()]
        lines += [_attachment(a) for a in m.get("attachments") or []]
    return [*lines, ""]


def outbox_lines(rows: Sequence[Row]) -> list[str]:
    """The ``outbox`` listing: id, state, purpose, ticket, attempts, recipient, why."""
    return _queue_lines(rows, OUTBOX_COLUMNS, "purpose", "rcpt", ("reason", "last_error"))


def agent_lines(rows: Sequence[Row]) -> list[str]:
    """The ``agents`` listing: address, role, name, disabled or not, other addresses."""
    return render(
        [
            (
                r["email"],
                r["role"],
                r["name"],
                "" if r["active"] else "(disabled)",
                f"also {', '.join(r['aliases'])}" if r["aliases"] else "",
            )
            for r in rows
        ],
        AGENT_COLUMNS,
    )


def quarantine_lines(rows: Sequence[Row]) -> list[str]:
    """The ``quarantine`` listing: id, sender, subject, why it is held."""
    return render(
        [
            (r["id"], r["from"] or r["mail_from"], r["subject"] or "(no subject)", r["reason"])
            for r in rows
        ],
        QUARANTINE_COLUMNS,
    )


def search_lines(hits: Sequence[tuple[Row, str]]) -> list[str]:
    """Search results: number, status, customer, subject; under each, its best snippet."""
    heads = render(
        [
            (r["number"], r["status"], r["customer"], r["subject"] or "(no subject)")
            for r, _ in hits
        ],
        SEARCH_COLUMNS,
    )
    lines = []
    for head, (_, snippet) in zip(heads, hits, strict=True):
        lines.append(head)
        shown = cut(one_line(snippet), 120)
        if shown:
            lines.append(f"    {shown}")
    return lines
