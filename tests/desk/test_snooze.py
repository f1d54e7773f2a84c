"""``#snooze`` and ``#remind``: a ticket sleeps until its time or until the customer
writes; a reminder is mailed once, however many processes run the scheduler.

The moments are read in the desk's timezone and business hours. The wake-up job
is the scheduler's own function, run as each process would run it, on the real
database (SQLite and PostgreSQL); the state lives in the database, so a new
process (a restart) picks it up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from echodesk.desk.commands.when import moment
from echodesk.desk.context import DeskContext
from echodesk.desk.jobs.wakeups import run_wakeups
from echodesk.store.models import AuditLog, Reminder, Ticket
from echodesk.store.types import utcnow
from tests.support.agent import mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail

#: Friday 4 December 2026, 16:00 in Berlin.
FRIDAY = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
HOURS = "mon-fri 09:00-17:00"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("30m", datetime(2026, 12, 4, 15, 30, tzinfo=UTC)),  # still in business hours
        ("2h", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),  # Friday 18:00: Monday 09:00
        ("1h", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),  # 17:00 is closing time
        ("3d", datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),  # Monday 16:00
        ("tomorrow", datetime(2026, 12, 5, 8, 0, tzinfo=UTC)),
        ("monday", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        ("monday 14:30", datetime(2026, 12, 7, 13, 30, tzinfo=UTC)),
        ("fri", datetime(2026, 12, 11, 8, 0, tzinfo=UTC)),  # the next Friday, not today
        ("2026-12-24", datetime(2026, 12, 24, 8, 0, tzinfo=UTC)),
        ("2026-12-24 18:00", datetime(2026, 12, 24, 17, 0, tzinfo=UTC)),
        ("2027-07-01 09:00", datetime(2027, 7, 1, 7, 0, tzinfo=UTC)),  # summer time
    ],
)
def test_moments_are_read_in_the_desks_timezone_and_business_hours(
    words: str, expected: datetime
) -> None:
    assert moment(tuple(words.split()), FRIDAY, BERLIN, HOURS) == expected


@pytest.mark.parametrize(
    ("words", "why"),
    [
        ("2026-01-01", "in the past"),
        ("today 08:00", "in the past"),
        ("2028-01-01", "more than a year ahead"),
        ("someday", "cannot tell when"),
        ("3d 9:00", "cannot tell when"),
        ("monday 25:00", "cannot tell when"),
        ("2026-02-30", "cannot tell when"),
        ("", "cannot tell when"),
    ],
)
def test_moments_that_are_no_moment_say_why(words: str, why: str) -> None:
    found = moment(tuple(words.split()), FRIDAY, BERLIN, HOURS)
    assert isinstance(found, str) and why in found


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _ticket(desk: Desk) -> Ticket:
    with desk.db.reading() as session:
        found = session.scalars(select(Ticket).where(Ticket.number == 1)).one()
        session.expunge(found)
        return found


def _due_now(desk: Desk) -> None:
    """Let the time pass: every snooze and reminder is due."""
    past = utcnow() - timedelta(seconds=1)
    with desk.db.transaction() as session:
        session.execute(
            update(Ticket).where(Ticket.snoozed_until.is_not(None)).values(snoozed_until=past)
        )
        session.execute(update(Reminder).values(due_at=past))


def _woke(desk: Desk) -> list[str]:
    with desk.db.reading() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "tickets.woke"))
        return [r.payload["why"] for r in rows]


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.deliver(make_mail(message_id="q@customer.test", subject="Printer"))
    team.send_outbox()
    return team


def test_a_snoozed_ticket_wakes_on_time_once_and_its_assignee_is_told(desk: Desk) -> None:
    desk.answer("#assign me\n#snooze 2d\n")
    until = _ticket(desk).snoozed_until
    assert until is not None and until > utcnow() + timedelta(days=1)
    assert desk.tickets()[0]["snoozed_until"] is not None
    listing = desk.cli("tickets")
    assert "snoozed until" in listing.stdout
    assert run_wakeups(desk.db, desk.ctx) == ([], [])  # not yet

    _due_now(desk)
    fresh = DeskContext.for_settings(desk.settings, desk.db)  # a restarted process
    woke, _ = run_wakeups(desk.db, fresh)
    assert woke == [_ticket(desk).id] and _ticket(desk).snoozed_until is None
    assert run_wakeups(desk.db, fresh) == ([], [])
    desk.send_outbox()
    told = [text_of(n) for n in notifications(_outbox(desk), "bob@desk.test")]
    assert sum("Snooze over on TKT-0001" in t for t in told) == 1
    assert _woke(desk) == ["snooze over"]


def test_the_customer_writing_wakes_the_ticket_at_once(desk: Desk) -> None:
    desk.answer("#snooze monday 9:00\n")
    assert _ticket(desk).snoozed_until is not None
    desk.deliver(
        make_mail(
            message_id="q2@customer.test",
            subject="Re: Printer",
            in_reply_to="q@customer.test",
            references=["q@customer.test"],
            minutes=5,
        )
    )
    assert _ticket(desk).snoozed_until is None
    assert _woke(desk) == ["the customer wrote"]
    _due_now(desk)
    assert run_wakeups(desk.db, desk.ctx) == ([], [])


def test_unsnooze_wakes_it(desk: Desk) -> None:
    desk.answer("#snooze tomorrow\n")
    desk.answer("#unsnooze\n", message_id="agent2@desk.test")
    assert _ticket(desk).snoozed_until is None


def test_a_reminder_is_mailed_once_by_two_processes(desk: Desk) -> None:
    desk.answer("#remind 2d call the customer back\n")
    with desk.db.reading() as session:
        (reminder,) = session.scalars(select(Reminder))
        assert reminder.text == "call the customer back" and reminder.sent_at is None
    _due_now(desk)
    results = desk.at_once(run_wakeups)
    assert sorted(len(sent) for _, sent in results) == [0, 1]
    desk.send_outbox()
    reminders = [
        text_of(m)
        for m in mails_to(_outbox(desk), "bob@desk.test")
        if "Reminder on TKT-0001" in text_of(m)
    ]
    assert len(reminders) == 1 and "call the customer back" in reminders[0]
    assert not any("Reminder" in text_of(m) for m in mails_to(_outbox(desk), "eve@desk.test"))


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("#snooze 2020-01-01", "is in the past"),
        ("#snooze whenever", "cannot tell when 'whenever'"),
        ("#snooze 2031-01-01", "more than a year ahead"),
        ("#remind", "#remind needs a time"),
        ("#remind later please", "cannot tell when 'later'"),
    ],
)
def test_a_time_that_is_no_time_is_an_error_quoting_the_line(
    desk: Desk, line: str, said: str
) -> None:
    desk.answer(f"#status pending\n{line}\n")
    assert _ticket(desk).status == "open" and _ticket(desk).snoozed_until is None
    error = text_of(mails_to(_outbox(desk), "bob@desk.test")[-1])
    assert line in error and said in error
