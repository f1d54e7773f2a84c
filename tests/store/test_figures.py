"""``echodesk report``: figures computed by SQL on both databases, checked against a desk
whose times are set by hand (medians and 90th percentiles by nearest rank)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from echodesk.store.models import Message, Rating, SlaResult, Ticket
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(team: Desk) -> Desk:
    """T1, T2 answered and resolved; T3 answered, pending; T4 unanswered, ten days old;
    T5 resolved forty days ago (outside a 30-day report)."""
    for n, answer in (
        (1, "#resolve\n\nDone."),
        (2, "#resolve\n\nDone."),
        (3, "Hi"),
        (4, ""),
        (5, ""),
    ):
        team.deliver(make_mail(message_id=f"t{n}@c.test", subject=f"T{n}", sender=f"c{n}@c.test"))
        team.send_outbox()
        if answer:
            team.answer(answer, f"a{n}@desk.test")
    start = utcnow() - timedelta(hours=5)
    with team.db.transaction() as session:
        ids = {number: tid for number, tid in session.execute(select(Ticket.number, Ticket.id))}
        for n, minutes in ((1, 10), (2, 20), (3, 30)):
            session.execute(update(Ticket).where(Ticket.id == ids[n]).values(created_at=start))
            session.execute(
                update(Message)
                .where(Message.ticket_id == ids[n], Message.kind == "reply")
                .values(created_at=start + timedelta(minutes=minutes))
            )
        for n, hours in ((1, 1), (2, 3)):
            done = start + timedelta(hours=hours)
            session.execute(
                update(Ticket).where(Ticket.id == ids[n]).values(status_changed_at=done)
            )
        old = utcnow() - timedelta(days=10)
        session.execute(update(Ticket).where(Ticket.id == ids[4]).values(created_at=old))
        ancient = utcnow() - timedelta(days=40)
        session.execute(
            update(Ticket)
            .where(Ticket.id == ids[5])
            .values(created_at=ancient, status="resolved", status_changed_at=ancient)
        )
        session.add(Rating(ticket_id=ids[1], rating="good", rated_at=utcnow(), changed_at=utcnow()))
        session.add(
            SlaResult(ticket_id=ids[1], policy="p", target="first_response", met_at=utcnow(),
                      in_time=True)
        )  # fmt: skip
        session.add(
            SlaResult(ticket_id=ids[2], policy="p", target="first_response", met_at=utcnow(),
                      in_time=False)
        )  # fmt: skip
    return team


def test_the_figures_of_the_last_thirty_days(desk: Desk) -> None:
    done = desk.cli("report", "--since", "30d", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert (found["opened"], found["resolved"]) == (4, 2)
    # First replies after 10, 20 and 30 minutes: median the second, p90 the third.
    assert found["times"]["first_response"] == {"count": 3, "median": 1200.0, "p90": 1800.0}
    assert found["times"]["resolution"] == {"count": 2, "median": 3600.0, "p90": 10800.0}
    assert found["backlog"] == {
        "under 1 day": 1,
        "1-3 days": 0,
        "3-7 days": 0,
        "7-30 days": 1,
        "30 days or more": 0,
    }
    assert found["sla_met"] == {"first_response": [1, 2]}
    assert found["ratings"] == {"good": 1, "okay": 0, "bad": 0}


def test_the_same_as_csv_and_in_words(desk: Desk) -> None:
    rows = dict(csv.reader(io.StringIO(desk.cli("report", "--csv").stdout)))
    assert rows["first_response_median_seconds"] == "1200"
    assert rows["sla first_response met in time"] == "1/2"
    words = desk.cli("report", "--since", "7d").stdout
    assert "first response (median / p90)" in words and "20m / 30m (3 tickets)" in words
    assert "resolution (median / p90)" in words and "1h 00m / 3h 00m (2 tickets)" in words


@pytest.mark.parametrize("since", ["soon", "0m", "9999d", "-3d"])
def test_a_period_that_is_no_period_is_refused(desk: Desk, since: str) -> None:
    done = desk.cli("report", "--since", since)
    assert done.returncode != 0 and "--since" in done.stderr
