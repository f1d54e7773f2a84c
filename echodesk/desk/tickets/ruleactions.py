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

from sqlalchemy.orm import Session

from echodesk.desk.audit import on_ticket
from echodesk.desk.batch import BatchIndex
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import (
    Assign,
    Effect,
    Merge,
    Notify,
    RuleActions,
    SetPriority,
    SetStatus,
    Tag,
    Untag,
)
from echodesk.desk.outbound.notify import Notifier
from echodesk.desk.tickets.apply import apply_effect
from echodesk.rules import Action
from echodesk.store import tickets, writes
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.tickets import Ticket


def _next_in_turn(session: Session, rule: str, candidates: list[AgentRow]) -> AgentRow:
    name = f"rr:{rule}"[:50]
    turn = writes.take_turn(session, name)
    return candidates[(int(turn) - 1) % len(candidates)]


def _effect(
    session: Session, action: Action, agents: dict[str, AgentRow]
) -> Effect | tuple[str, dict[str, Any]]:
    """The effect a rule's action asks for, or (audit name, payload) when it cannot apply."""
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
        return Assign(agent.id)
    simple: dict[str, Effect] = {
        "tag": Tag(action.values),
        "untag": Untag(action.values),
        "status": SetStatus(action.value),
        "priority": SetPriority(action.value),
        "notify": Notify(action.values, f"rule '{action.rule}'"),
    }
    if kind in simple:
        return simple[kind]
    return "rules.skipped", {"action": kind, "reason": "not an action that applies to a ticket"}


def _apply(
    session: Session,
    ticket: Ticket,
    action: Action,
    agents: dict[str, AgentRow],
    notifier: Notifier,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Carry out one action through the applier; (audit action name, payload)."""
    effect = _effect(session, action, agents)
    if isinstance(effect, tuple):
        return effect
    if isinstance(effect, Notify):
        ids = notifier.notify_addresses(ticket.id, effect.addresses, now=now, why=effect.why)
        return "rules.notify", {"outbox": ids}
    if isinstance(effect, Merge):  # pragma: no cover - no rule action merges
        raise ValueError("a rule cannot merge tickets")
    applied = apply_effect(session, ticket, effect, now)
    name = f"rules.{action.kind.removesuffix('_round_robin')}"
    if isinstance(effect, Assign):
        emails = {a.id: a.email for a in agents.values()}
        return name, {"agent": emails[effect.agent_id or 0]}
    if isinstance(effect, Tag | Untag):
        return name, {"tags": list(effect.tags)}
    return name, applied.payload()


def apply_rule_actions(
    session: Session,
    ctx: DeskContext,
    planned: list[RuleActions],
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
        # Fresh: the batch has just written the ticket with set-at-a-time statements.
        ticket = tickets.get(session, ids[index.live(item.ticket)], fresh=True)
        if ticket is None:  # pragma: no cover - the ticket was written in this transaction
            continue
        for action in item.actions:
            name, payload = _apply(session, ticket, action, agents, notifier, now)
            ticket.updated_at = now
            actor = f"rule:{action.rule}"
            audit.append(on_ticket(actor, name, ticket, {"rule": action.rule, **payload}, now))
    session.flush()
    return audit
