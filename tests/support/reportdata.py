"""A generated archive for the report tests, and its figures computed here by brute force.

A seeded generator writes tickets with replies, statuses, assignees and tags
at chosen minutes around a daylight-saving change (Europe/Berlin, late
October). The truth is counted here in Python from the same rows, with no
code of the report: business time minute by minute with the business hours'
own ``contains``, local days with ``zoneinfo``, nearest-rank percentiles by
sorting.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from echodesk.rules.clock import parse_business_hours
from echodesk.store import agents
from echodesk.store.models import Message, Ticket, TicketTag
from tests.support.desk import Desk

ZONE = ZoneInfo("Europe/Berlin")
HOURS = "mon-fri 09:00-17:00, sat 10:00-12:00"
FIRST, LAST = date(2026, 10, 1), date(2026, 11, 15)
START = datetime(2026, 10, 1, tzinfo=ZONE)
END = datetime(2026, 11, 16, tzinfo=ZONE)
TAGS = ("billing", "bug", "vip")


@dataclass
class Made:
    """A generated ticket as the truth sees it."""

    created: datetime
    status: str
    changed: datetime
    replies: list[datetime]
    assignee: str
    tags: list[str]
    merged: bool = False
    key: int = field(default=0)


def minute(rnd: random.Random, low: datetime, high: datetime) -> datetime:
    span = int((high - low).total_seconds() // 60)
    return low + timedelta(minutes=rnd.randrange(span))


def generate(rnd: random.Random, names: list[str]) -> list[Made]:
    made = []
    low, high = datetime(2026, 9, 20, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    for _ in range(140):
        created = minute(rnd, low, high)
        status = rnd.choice(["open", "pending", "resolved", "closed", "resolved"])
        changed = created + timedelta(minutes=rnd.randrange(1, 4 * 1440))
        replies = sorted(
            created + timedelta(minutes=rnd.randrange(1, 2 * 1440))
            for _ in range(rnd.choice([0, 1, 1, 2, 3]))
        )
        made.append(
            Made(created, status, changed, replies, rnd.choice([*names, ""]),
                 rnd.sample(TAGS, rnd.randrange(3)), merged=rnd.random() < 0.05)
        )  # fmt: skip
    return made


def write(desk: Desk, made: list[Made]) -> None:
    with desk.db.transaction() as session:
        ids = {a.name: a.id for a in agents.every(session)}
        for n, item in enumerate(made, 1):
            ticket = Ticket(
                number=n,
                subject=f"Generated {n}",
                status=item.status,
                created_at=item.created,
                updated_at=item.changed,
                status_changed_at=item.changed,
                assignee_id=ids.get(item.assignee),
            )
            session.add(ticket)
            session.flush()
            item.key = ticket.id
            session.add(message(ticket.id, f"c{n}", "customer", item.created))
            for k, moment in enumerate(item.replies):
                session.add(message(ticket.id, f"r{n}.{k}", "reply", moment))
            session.add_all(TicketTag(ticket_id=ticket.id, tag=tag) for tag in item.tags)
        for item in made:
            if item.merged:
                session.get(Ticket, item.key).merged_into_id = made[0].key  # type: ignore[union-attr]


def message(ticket_id: int, mid: str, kind: str, moment: datetime) -> Message:
    direction = "inbound" if kind == "customer" else "outbound"
    return Message(
        ticket_id=ticket_id,
        direction=direction,
        kind=kind,
        message_id=f"<{mid}@gen.test>",
        created_at=moment,
    )


_OPEN = {}


def business(a: datetime, b: datetime) -> float:
    """Business seconds from a to b, minute by minute (every moment is a whole minute)."""
    hours = parse_business_hours(HOURS)
    minutes = 0
    moment = a
    while moment < b:
        local = moment.astimezone(ZONE)
        key = (local.weekday(), local.hour, local.minute)
        if key not in _OPEN:
            _OPEN[key] = hours.contains(local)
        minutes += _OPEN[key]
        moment += timedelta(minutes=1)
    return minutes * 60.0


def spread(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float | None:
        return ordered[math.ceil(q * n) - 1] if n else None

    return {"count": n, "median": rank(0.5), "p90": rank(0.9)}


def times(items: list[Made]) -> dict[str, Any]:
    new = [m for m in items if START <= m.created < END and m.replies]
    done = [m for m in items if m.status in ("resolved", "closed") and START <= m.changed < END]
    return {
        "first_response": spread([(m.replies[0] - m.created).total_seconds() for m in new]),
        "first_response_business": spread([business(m.created, m.replies[0]) for m in new]),
        "resolution": spread([(m.changed - m.created).total_seconds() for m in done]),
        "resolution_business": spread([business(m.created, m.changed) for m in done]),
    }


def volume(items: list[Made], week: bool) -> list[dict[str, Any]]:
    def bucket(moment: datetime) -> date:
        day = moment.astimezone(ZONE).date()
        return day - timedelta(days=day.weekday()) if week else day

    opened, resolved = defaultdict(int), defaultdict(int)
    for m in items:
        if START <= m.created < END:
            opened[bucket(m.created)] += 1
        if m.status in ("resolved", "closed") and START <= m.changed < END:
            resolved[bucket(m.changed)] += 1
    day, rows = bucket(START), []
    while day <= LAST:
        rows.append({"start": day.isoformat(), "opened": opened[day], "resolved": resolved[day]})
        day += timedelta(days=7 if week else 1)
    return rows


def groups(items: list[Made], by: str) -> dict[str, dict[str, Any]]:
    members: dict[str, list[Made]] = defaultdict(list)
    for m in items:
        for key in [m.assignee or "unassigned"] if by == "agent" else m.tags:
            members[key].append(m)
    return {
        key: {
            "open": sum(m.status in ("open", "pending") for m in group),
            "opened": sum(START <= m.created < END for m in group),
            "resolved": sum(
                m.status in ("resolved", "closed") and START <= m.changed < END for m in group
            ),
            "times": times(group),
        }
        for key, group in members.items()
    }


def generated_desk(db_url: str, tmp_path: Path) -> Iterator[tuple[Desk, list[Made]]]:
    """A desk holding the generated archive, and its live tickets as the truth sees them."""
    desk = Desk(db_url, tmp_path / "data", timezone="Europe/Berlin", business_hours=HOURS)
    for email, name in (("bob@desk.test", "Bob"), ("eve@desk.test", "Eve")):
        desk.add_agent(email, name)
    made = generate(random.Random(20261025), ["Bob", "Eve"])
    write(desk, made)
    yield desk, [m for m in made if not m.merged]
    desk.close()
