"""SLA targets: which policy a ticket is under, and what its clocks say.

Every ticket a policy of the ``sla`` setting covers has two clocks. The
response clock runs from the ticket's opening to the first reply to the
customer (``first_response``), and from each later customer message left
unanswered to the next reply (``next_response``). The resolution clock runs
from the opening until the ticket is resolved or closed, and on again if it
is reopened. Both stop while the ticket is pending (waiting on the
customer) and run on a business or a calendar clock (``worktime.py``).

:func:`reconcile` is called wherever a ticket changes (the intake batch, an
agent's commands, auto-close) and by the sweep for anything changed since
(``jobs/sla.py``): it reads the ticket's facts and moves its stored clocks
on to them. The moments come from the ticket itself (when its status
changed, when each message came), so a late reconcile computes the same
clocks as a prompt one. :func:`alerts` is the sweep's question: which
warning or breach notice is due now, each once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from echodesk.config import Settings, SlaPolicy
from echodesk.desk.tickets.worktime import BusinessClock, CalendarClock, Clock
from echodesk.rules.clock import parse_business_hours
from echodesk.statuses import UNRESOLVED, Status
from echodesk.store import sla as store
from echodesk.store.sla import BREACHED, WARNED, Clocks, Facts, Met

#: How each target is written in notices and on the archive.
TARGET_NAMES = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}


@dataclass(frozen=True)
class Alert:
    """A notice the sweep sends: a target nearly due, or past due."""

    ticket_id: int
    kind: Literal["warning", "breach"]
    target: str
    due: datetime
    policy: str


def policy_for(policies: tuple[SlaPolicy, ...], facts: Facts) -> SlaPolicy | None:
    """The first policy whose conditions all hold for the ticket."""
    for policy in policies:
        if policy.priority and policy.priority != facts.priority:
            continue
        if policy.tag and policy.tag.lower() not in facts.tags:
            continue
        return policy
    return None


class ClockSet:
    """The clocks of one installation's settings: one per kind, shared by every ticket."""

    def __init__(self, settings: Settings) -> None:
        self.calendar = CalendarClock()
        self.business = BusinessClock(
            parse_business_hours(settings.business_hours), settings.timezone
        )
        self.share = settings.sla_warn_percent / 100

    def of(self, policy: SlaPolicy) -> Clock:
        return self.business if policy.hours == "business" else self.calendar


def advance(
    old: Clocks | None, facts: Facts, policy: SlaPolicy, clock: Clock, share: float, now: datetime
) -> tuple[Clocks, list[Met]]:
    """The ticket's clocks moved on to its facts, and the targets met on the way."""
    c = dataclasses.replace(old, policy=policy.name) if old else Clocks(facts.ticket_id, "")
    c.policy = policy.name
    targets = policy.targets
    moment = min(facts.status_changed_at or facts.created_at, now)
    running = facts.status == Status.OPEN
    if c.running_since is not None and not running:
        _stop(c, clock, max(moment, c.running_since))
    elif c.running_since is None and running:
        c.running_since = moment
    met = _response(c, facts, targets, clock)
    resolving = "resolution" in targets and facts.status in UNRESOLVED
    if c.resolution_open and not resolving and facts.status not in UNRESOLVED:
        in_time = c.resolution_spent <= targets.get("resolution", 0)
        met.append(Met(c.ticket_id, c.policy, "resolution", facts.created_at, moment, in_time))
    c.resolution_open = resolving
    _schedule(c, targets, clock, share)
    return c, met


def _stop(c: Clocks, clock: Clock, at: datetime) -> None:
    """The ticket stopped waiting on an agent at ``at``: bank what both clocks ran."""
    assert c.running_since is not None
    c.resolution_spent += clock.between(c.running_since, at)
    if c.response_target and c.response_from is not None:
        c.response_spent += clock.between(max(c.running_since, c.response_from), at)
    c.running_since = None


def _wanted(facts: Facts, targets: dict[str, int]) -> tuple[str, datetime] | None:
    """The response the ticket awaits now (target, since when), if the policy times it."""
    if facts.status not in UNRESOLVED:
        return None
    if facts.first_reply_at is None:
        return ("first_response", facts.created_at) if "first_response" in targets else None
    if facts.waiting_since is not None and "next_response" in targets:
        return "next_response", facts.waiting_since
    return None


def _response(c: Clocks, facts: Facts, targets: dict[str, int], clock: Clock) -> list[Met]:
    """Start, keep or end the response clock; the response met, if one was."""
    wanted = _wanted(facts, targets)
    current = (c.response_target, c.response_from) if c.response_target else None
    if wanted == current:
        return []
    met: list[Met] = []
    if current is not None and current[1] is not None:
        answered = facts.first_reply_at if current[0] == "first_response" else facts.last_reply_at
        if answered is not None and answered >= current[1]:
            spent = c.response_spent
            if c.running_since is not None:
                spent += clock.between(max(c.running_since, current[1]), answered)
            in_time = spent <= targets.get(current[0], 0)
            met.append(Met(c.ticket_id, c.policy, current[0], current[1], answered, in_time))
    c.response_target, c.response_from = wanted if wanted else ("", None)
    c.response_spent, c.response_stage = 0.0, 0
    return met


def _schedule(c: Clocks, targets: dict[str, int], clock: Clock, share: float) -> None:
    """Each running clock's warning and due moments, and when the sweep next looks."""
    c.response_warn_at = c.response_due = None
    c.resolution_warn_at = c.resolution_due = None
    if c.running_since is not None:
        if c.response_target and c.response_from is not None:
            total = targets[c.response_target]
            start = max(c.running_since, c.response_from)
            c.response_warn_at = clock.add(start, max(total * share - c.response_spent, 0))
            c.response_due = clock.add(start, max(total - c.response_spent, 0))
        if c.resolution_open:
            total = targets["resolution"]
            c.resolution_warn_at = clock.add(
                c.running_since, max(total * share - c.resolution_spent, 0)
            )
            c.resolution_due = clock.add(c.running_since, max(total - c.resolution_spent, 0))
    c.alert_at = _next_alert(c)


def _next_alert(c: Clocks) -> datetime | None:
    moments = [
        c.response_warn_at if c.response_stage < WARNED else None,
        c.response_due if c.response_stage < BREACHED else None,
        c.resolution_warn_at if c.resolution_stage < WARNED else None,
        c.resolution_due if c.resolution_stage < BREACHED else None,
    ]
    return min((m for m in moments if m is not None), default=None)


def alerts(c: Clocks, now: datetime) -> list[Alert]:
    """The notices due now, each marked sent on ``c``: a breach past due, else a warning.

    A target found already past due gets its breach notice only (the warning
    would come too late to help).
    """
    found: list[Alert] = []
    for name in ("response", "resolution"):
        stage = getattr(c, f"{name}_stage")
        due, warn = getattr(c, f"{name}_due"), getattr(c, f"{name}_warn_at")
        target = c.response_target if name == "response" else "resolution"
        if due is not None and due <= now and stage < BREACHED:
            setattr(c, f"{name}_stage", BREACHED)
            found.append(Alert(c.ticket_id, "breach", target, due, c.policy))
        elif warn is not None and due is not None and warn <= now and stage < WARNED:
            setattr(c, f"{name}_stage", WARNED)
            found.append(Alert(c.ticket_id, "warning", target, due, c.policy))
    c.alert_at = _next_alert(c)
    return found


def reconcile(session: Session, settings: Settings, ticket_ids: set[int], now: datetime) -> None:
    """Bring the stored clocks of these tickets up to their facts (nothing without ``sla``)."""
    if not settings.sla or not ticket_ids:
        return
    clocks = ClockSet(settings)
    stored = store.load(session, ticket_ids)
    new: list[Clocks] = []
    changed: list[Clocks] = []
    gone: list[int] = []
    met: list[Met] = []
    for facts in store.facts(session, ticket_ids):
        policy = policy_for(settings.sla, facts)
        old = stored.get(facts.ticket_id)
        if policy is None:
            if old is not None:
                gone.append(facts.ticket_id)
            continue
        moved, done = advance(old, facts, policy, clocks.of(policy), clocks.share, now)
        met += done
        if old is None:
            new.append(moved)
        elif moved != old:
            changed.append(moved)
    store.save(session, new, changed)
    store.drop(session, gone)
    store.record(session, met)


__all__ = ["TARGET_NAMES", "Alert", "ClockSet", "advance", "alerts", "policy_for", "reconcile"]
