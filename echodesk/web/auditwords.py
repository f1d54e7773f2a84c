"""The audit trail in words: who did what to the ticket, with the values before and after.

The store keeps each row as an action code and a payload (``commands.status``
with ``{"from": "pending", "to": "resolved"}``); an operator reads "Bob Agent
changed the status pending → resolved". Actions this module does not know are
shown by their code, so a new kind of row is never hidden.
"""

from __future__ import annotations

from typing import Any

#: How the desk's own actors are named.
_SYSTEM = {
    "system:pipeline": "Echo",
    "system:scheduler": "Echo's scheduler",
    "system:autoclose": "Auto-close",
    "system:sla": "Echo's SLA watch",
    "system:satisfaction": "Echo",
}
_FIELDS = {"commands.status": "status", "commands.priority": "priority"}
_TARGETS = {"first_response": "first response", "next_response": "next response"}


def actor(row: dict[str, Any]) -> str:
    name = row.get("actor_name") or ""
    raw = str(row.get("actor") or "")
    return name or _SYSTEM.get(raw, raw or "someone")


def describe(row: dict[str, Any]) -> str:
    """One audit row as a sentence (without the time, which the page shows beside it)."""
    who, action = actor(row), str(row.get("action") or "")
    p: dict[str, Any] = row.get("payload") or {}
    if action in _FIELDS and "from" in p:
        return f"{who} changed the {_FIELDS[action]} {p['from']} → {p['to']}"
    if action == "commands.assign":
        return f"{who} changed the assignee {p.get('from_name')} → {p.get('to_name')}"
    if action.startswith("commands.") and action != "commands.rejected":
        return f"{who}: {p.get('change') or action.partition('.')[2]}"
    sentence = _about_ticket(who, action, p)
    return sentence or f"{action} by {who}"


def _about_ticket(who: str, action: str, p: dict[str, Any]) -> str:
    status = p.get("status")
    moved = (
        f" (status {status[0]} → {status[1]})"
        if isinstance(status, list) and len(status) == 2 and status[0] != status[1]
        else ""
    )
    target = _TARGETS.get(str(p.get("target")), str(p.get("target")))
    errors = "; ".join(map(str, p.get("errors") or []))
    due = str(p.get("due", ""))[:16].replace("T", " ")
    return {
        "commands.rejected": f"{who}'s commands were refused: {errors}",
        "tickets.create": f"Opened by {who}",
        "tickets.reply": f"{who} replied to the customer{moved}",
        "tickets.note": f"{who} added an internal note",
        "tickets.reopen": f"The customer wrote again: status {p.get('from')} → {p.get('to')}",
        "tickets.autoclose": f"Closed after {p.get('days')} days pending"
        + (", and the customer told" if p.get("notice") else ""),
        "tickets.woke": f"Woke up: {p.get('why')}",
        "tickets.survey": "The customer was asked to rate the help",
        "sla.warning": f"SLA warning: the {target} is due {due} UTC",
        "sla.breach": f"SLA breached: the {target} was due {due} UTC",
    }.get(action, "")


__all__ = ["actor", "describe"]
