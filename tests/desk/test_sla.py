"""SLA targets: due times kept per ticket, a warning and a breach notice once each,
clocks that stop while the ticket waits on the customer, and the search operators.

Tickets are opened by real mail (dated in the past: a ticket's time is its
mail's), changed by agents' replies to their notifications, and the sweep is the
scheduler's own function run at chosen moments, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from echodesk.config import SlaPolicy
from echodesk.desk.jobs.sla import run_sla
from echodesk.store import sla as sla_store
from echodesk.store.models import AuditLog, Ticket
from echodesk.store.search import search
from echodesk.store.searchquery import SearchError
from echodesk.store.types import utcnow
from tests.support.agent import notifications, text_of
from tests.support.desk import Desk
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

BERLIN = "Europe/Berlin"
#: Friday 27 November 2026, 16:00 in Berlin.
FRIDAY_4PM = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def _mail(when: datetime, message_id: str = "q@customer.test", reply_to: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Re: Printer" if reply_to else "Printer"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{message_id}>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
        msg["References"] = f"<{reply_to}>"
    msg.set_content("My printer is on fire.\n")
    return msg.as_bytes(policy=SMTP)


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _clocks(desk: Desk) -> sla_store.Clocks:
    with desk.db.reading() as session:
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == 1)).one()
        found = sla_store.clocks_of(session, ticket_id)
        assert found is not None
        return found


def _told(desk: Desk, agent: str, what: str) -> int:
    desk.send_outbox()
    return sum(what in text_of(n) for n in notifications(_outbox(desk), agent))


def _found(desk: Desk, query: str) -> list[int]:
    with desk.db.reading() as session:
        return [hit.number for hit in search(session, query).hits]


@pytest.fixture
def business(team: Desk) -> Desk:
    team.reconfigure(
        timezone=BERLIN,
        business_hours="mon-fri 09:00-17:00",
        sla=(SlaPolicy(name="standard", first_response="4h"),),
    )
    return team


def test_warning_and_breach_go_out_once_each_in_business_hours_across_a_weekend(
    business: Desk,
) -> None:
    desk = business
    desk.deliver(_mail(FRIDAY_4PM))
    clocks = _clocks(desk)
    # One business hour on Friday, three on Monday: due Monday 12:00 Berlin.
    assert clocks.response_target == "first_response"
    assert clocks.response_due == datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    # 80% of 4 hours is 3h12m: Monday 11:12 Berlin.
    assert clocks.response_warn_at == datetime(2026, 11, 30, 10, 12, tzinfo=UTC)

    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert run_sla(desk.db, desk.ctx, now=saturday) == []
    warned = run_sla(desk.db, desk.ctx, now=datetime(2026, 11, 30, 10, 13, tzinfo=UTC))
    assert [(a.kind, a.target) for a in warned] == [("warning", "first_response")]
    assert run_sla(desk.db, desk.ctx, now=datetime(2026, 11, 30, 10, 30, tzinfo=UTC)) == []
    breached = run_sla(desk.db, desk.ctx, now=datetime(2026, 11, 30, 11, 1, tzinfo=UTC))
    assert [(a.kind, a.target) for a in breached] == [("breach", "first_response")]
    assert run_sla(desk.db, desk.ctx, now=datetime(2026, 12, 1, 11, 0, tzinfo=UTC)) == []

    for agent in ("bob@desk.test", "eve@desk.test"):  # unassigned: every agent is told
        assert _told(desk, agent, "SLA warning on TKT-0001") == 1
        assert _told(desk, agent, "SLA breached on TKT-0001") == 1
    told = [text_of(n) for n in notifications(_outbox(desk), "bob@desk.test")]
    assert any("first response was due Mon 2026-11-30 12:00 Europe/Berlin" in t for t in told)
    with desk.db.reading() as session:
        actions = list(
            session.scalars(select(AuditLog.action).where(AuditLog.actor == "system:sla"))
        )
    assert actions == ["sla.warning", "sla.breach"]
    assert _found(desk, "sla:breached") == [1]


def test_once_assigned_only_the_assignee_is_told(business: Desk) -> None:
    desk = business
    desk.deliver(_mail(FRIDAY_4PM))
    desk.send_outbox()
    desk.answer("#assign me\n", "a1@desk.test")
    run_sla(desk.db, desk.ctx, now=datetime(2026, 11, 30, 11, 1, tzinfo=UTC))
    assert _told(desk, "bob@desk.test", "SLA breached on TKT-0001") == 1
    assert _told(desk, "eve@desk.test", "SLA breached on TKT-0001") == 0


def test_a_reply_meets_the_first_response_and_the_next_message_starts_the_next(
    business: Desk,
) -> None:
    desk = business
    desk.reconfigure(
        sla=(SlaPolicy(name="standard", first_response="4h", next_response="2h", hours="calendar"),)
    )
    opened = utcnow() - timedelta(hours=1)
    desk.deliver(_mail(opened))
    desk.send_outbox()
    desk.answer("We are on it.\n", "a1@desk.test")
    clocks = _clocks(desk)
    assert clocks.response_target == "" and clocks.response_due is None
    with desk.db.reading() as session:
        (met,) = sla_store.results(session, clocks.ticket_id)
    assert (met.target, met.in_time) == ("first_response", True)

    desk.deliver(_mail(utcnow(), "q2@customer.test", reply_to="q@customer.test"))
    clocks = _clocks(desk)
    assert clocks.response_target == "next_response" and clocks.response_due is not None
    assert abs(clocks.response_due - (utcnow() + timedelta(hours=2))) < timedelta(minutes=2)
    assert _found(desk, "sla:due<3h") == [1]
    assert _found(desk, "sla:due<1h") == []
    assert _found(desk, "sla:breached") == []


def test_the_clocks_stop_while_the_ticket_waits_on_the_customer(business: Desk) -> None:
    desk = business
    desk.reconfigure(
        sla=(SlaPolicy(name="standard", first_response="1h", resolution="8h", hours="calendar"),)
    )
    desk.deliver(_mail(utcnow() - timedelta(hours=3)))
    desk.send_outbox()
    assert _found(desk, "sla:breached") == [1]  # the first response is 2 hours late
    desk.answer("Could you send a photo?\n", "a1@desk.test")  # the ticket is now pending
    clocks = _clocks(desk)
    assert clocks.running_since is None and clocks.resolution_due is None
    assert abs(clocks.resolution_spent - 3 * 3600) < 120
    with desk.db.reading() as session:
        (met,) = sla_store.results(session, clocks.ticket_id)
    assert (met.target, met.in_time) == ("first_response", False)
    assert _found(desk, "sla:due<24h") == []  # paused: nothing is due

    desk.deliver(_mail(utcnow(), "q2@customer.test", reply_to="q@customer.test"))
    clocks = _clocks(desk)
    assert clocks.resolution_due is not None  # running again, with 5 of 8 hours left
    assert abs(clocks.resolution_due - (utcnow() + timedelta(hours=5))) < timedelta(minutes=2)
    assert _found(desk, "sla:due<6h") == [1]
    assert _found(desk, "sla:due<4h") == []


def test_the_policy_follows_priority_and_tags(business: Desk) -> None:
    desk = business
    desk.reconfigure(
        sla=(
            SlaPolicy(name="urgent", priority="urgent", first_response="1h", hours="calendar"),
            SlaPolicy(name="vip", tag="vip", first_response="2h", hours="calendar"),
            SlaPolicy(name="standard", first_response="8h", hours="calendar"),
        )
    )
    opened = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    desk.deliver(_mail(opened))
    desk.send_outbox()
    assert (_clocks(desk).policy, _clocks(desk).response_due) == (
        "standard",
        opened + timedelta(hours=8),
    )
    desk.answer("#tag vip\n", "a1@desk.test")
    assert (_clocks(desk).policy, _clocks(desk).response_due) == (
        "vip",
        opened + timedelta(hours=2),
    )
    desk.answer("#priority urgent\n", "a2@desk.test")
    assert (_clocks(desk).policy, _clocks(desk).response_due) == (
        "urgent",
        opened + timedelta(hours=1),
    )


def test_resolving_meets_the_resolution_target_and_reopening_resumes_it(business: Desk) -> None:
    desk = business
    desk.reconfigure(sla=(SlaPolicy(name="standard", resolution="1d", hours="calendar"),))
    desk.deliver(_mail(utcnow() - timedelta(hours=2)))
    desk.send_outbox()
    desk.answer("#resolve\n", "a1@desk.test")
    clocks = _clocks(desk)
    assert not clocks.resolution_open and clocks.resolution_due is None
    with desk.db.reading() as session:
        (met,) = sla_store.results(session, clocks.ticket_id)
    assert (met.target, met.in_time) == ("resolution", True)
    desk.deliver(_mail(utcnow(), "q2@customer.test", reply_to="q@customer.test"))
    clocks = _clocks(desk)
    assert clocks.resolution_open and clocks.resolution_due is not None
    assert abs(clocks.resolution_due - (utcnow() + timedelta(hours=22))) < timedelta(minutes=2)


def test_two_processes_sweeping_at_once_send_each_notice_once(business: Desk) -> None:
    desk = business
    desk.deliver(_mail(FRIDAY_4PM))
    monday = datetime(2026, 11, 30, 10, 13, tzinfo=UTC)
    results = desk.at_once(lambda db, ctx: len(run_sla(db, ctx, now=monday)))
    assert sorted(results) == [0, 1]
    assert _told(desk, "bob@desk.test", "SLA warning on TKT-0001") == 1


@pytest.mark.parametrize("query", ["sla:soon", "sla:due<later", "sla:due>2h"])
def test_a_malformed_sla_term_says_how_to_write_it(business: Desk, query: str) -> None:
    with pytest.raises(SearchError, match="sla:breached or sla:due<DURATION"):
        _found(business, query)


def test_without_policies_no_clock_is_kept(team: Desk) -> None:
    team.deliver(_mail(FRIDAY_4PM))
    with team.db.reading() as session:
        (ticket_id,) = session.scalars(select(Ticket.id))
        assert sla_store.clocks_of(session, ticket_id) is None
    assert run_sla(team.db, team.ctx) == []


def test_the_archive_and_the_command_line_mark_due_and_breached_tickets(business: Desk) -> None:
    desk = business
    desk.reconfigure(sla=(SlaPolicy(name="standard", first_response="2h", hours="calendar"),))
    desk.deliver(_mail(utcnow() - timedelta(hours=3)))  # TKT-0001: an hour late
    desk.deliver(_mail(utcnow(), "other@customer.test"))  # TKT-0002: due in two hours
    client = desk_app(desk).test_client()
    sign_in(client, desk)
    listing = client.get("/?status=open").get_data(as_text=True)
    table, cards = listing.split('ticket-cards">', 1)  # wide screens, phones
    assert cards.count("SLA breached") == 1
    assert cards.count("first response due") == 1
    assert table.count(">breached</span>") == 1 and table.count('class="badge sla-due"') == 1
    page = client.get("/ticket/1").get_data(as_text=True)
    assert "SLA breached" in page and "policy standard" in page
    listed = desk.cli("tickets")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any("TKT-0001" in line and "SLA breached" in line for line in lines)
    assert any("TKT-0002" in line and "SLA first response due" in line for line in lines)
    shown = desk.cli("show", "TKT-0001").stdout
    assert "SLA breached" in shown


def test_a_change_of_policies_recomputes_every_unresolved_ticket(team: Desk) -> None:
    opened = utcnow().replace(microsecond=0) - timedelta(hours=1)
    team.deliver(_mail(opened))
    with team.db.transaction() as session:  # not changed lately: only a recompute finds it
        session.execute(update(Ticket).values(updated_at=opened))
    team.reconfigure(sla=(SlaPolicy(name="standard", first_response="8h", hours="calendar"),))
    assert run_sla(team.db, team.ctx) == []  # the first sweep under the policy
    assert _clocks(team).response_due == opened + timedelta(hours=8)
    team.reconfigure(sla=(SlaPolicy(name="standard", first_response="2h", hours="calendar"),))
    run_sla(team.db, team.ctx)
    assert _clocks(team).response_due == opened + timedelta(hours=2)
