"""Carrying out what the routing rules decided, once the ticket exists.

The rules engine only decides (:mod:`echodesk.rules`); this is its single
apply step, inside the pipeline's transaction. Every action taken, or
skipped because it could not be (an agent who left, say), writes an audit
row naming the rule. Round-robin assignment keeps its turn in a counter per
rule, so it rotates fairly across workers and restarts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from echodesk.desk.batch import BatchIndex, PlannedRules
from echodesk.desk.context import DeskContext
from echodesk.desk.notify import Notifier
from echodesk.desk.status import set_to
from echodesk.rules import Action
from echodesk.store import writes
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.models import Counter, Ticket, TicketTag


def _next_in_turn(session: Session, rule: str, candidates: list[AgentRow]) -> AgentRow:
    name = f"rr:{rule}"[:50]
    writes.insert_ignore(session, Counter, [{"name": name, "value": 0}], ["name"])
    turn = session.execute(
        text("UPDATE counters SET value = value + 1 WHERE name = :n RETURNING value"), {"n": name}
    ).scalar_one()
    return candidates[(int(turn) - 1) % len(candidates)]


def _apply(
    session: Session,
    ticket: Ticket,
    action: Action,
    agents: dict[str, AgentRow],
    notifier: Notifier,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Carry out one action; (audit action name, payload)."""
    kind = action.kind
    if kind in ("assign", "assign_round_robin"):
        wanted = [action.value] if kind == "assign" else list(action.values)
        candidates = [agents[a] for a in wanted if a in agents]
        if not candidates:
            return "rules.skipped", {
                "action": kind,
                "reason": "no active agent among " + ", ".join(wanted),
            }
        agent = (
            candidates[0] if kind == "assign" else _next_in_turn(session, action.rule, candidates)
        )
        ticket.assignee_id = agent.id
        return "rules.assign", {"agent": agent.email}
    if kind == "tag":
        rows = [{"ticket_id": ticket.id, "tag": t} for t in action.values]
        writes.insert_ignore(session, TicketTag, rows, ["ticket_id", "tag"])
        return "rules.tag", {"tags": list(action.values)}
    if kind == "untag":
        session.execute(
            delete(TicketTag).where(
                TicketTag.ticket_id == ticket.id, TicketTag.tag.in_(list(action.values))
            )
        )
        return "rules.untag", {"tags": list(action.values)}
    if kind == "status":
        before = set_to(ticket, action.value, now)
        return "rules.status", {"from": before, "to": ticket.status}
    if kind == "priority":
        before, ticket.priority = ticket.priority, action.value
        return "rules.priority", {"from": before, "to": action.value}
    if kind == "notify":
        why = f"rule '{action.rule}'"
        ids = notifier.notify_addresses(ticket.id, action.values, now=now, why=why)
        return "rules.notify", {"outbox": ids}
    return "rules.skipped", {"action": kind, "reason": "not an action that applies to a ticket"}


def apply_rule_actions(
    session: Session,
    ctx: DeskContext,
    planned: list[PlannedRules],
    ids: dict[int, int],
    index: BatchIndex,
    notifier: Notifier,
    now: datetime,
) -> list[dict[str, Any]]:
    """Carry out every planned rule action; their audit rows."""
    if not planned:
        return []
    agents = active_agents(session)
    audit: list[dict[str, Any]] = []
    session.flush()
    for item in planned:
        ticket = session.get(Ticket, ids[index.live(item.ticket)])
        if ticket is None:  # pragma: no cover - the ticket was written in this transaction
            continue
        session.refresh(ticket)
        for action in item.actions:
            name, payload = _apply(session, ticket, action, agents, notifier, now)
            ticket.updated_at = now
            audit.append(
                {
                    "at": now,
                    "actor": f"rule:{action.rule}"[:320],
                    "action": name,
                    "target_type": "ticket",
                    "target_id": str(ticket.number),
                    "ticket_id": ticket.id,
                    "payload": {"rule": action.rule, **payload},
                }
            )
    session.flush()
    return audit
