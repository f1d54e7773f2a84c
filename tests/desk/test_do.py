"""``echodesk do``: an agent's command lines without the mail, equal to the mail.

Two tickets get the same lines, one by an emailed reply to the notification,
one through ``echodesk do``: the tickets end alike, the audit trail records
the same actions with the same details, and the other agent is notified of
both. An error anywhere changes nothing. SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from echodesk.store.models import AuditLog, Ticket
from tests.support.agent import agent_reply, mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail

LINES = ["#assign eve", "#status pending", "#tag billing vip", "#priority urgent"]


@pytest.fixture
def desk(team: Desk) -> Desk:
    return team


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _two_tickets(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="a@customer.test", subject="First"))
    desk.deliver(make_mail(message_id="b@customer.test", subject="Second"))
    desk.send_outbox()


def _state(desk: Desk, number: int) -> dict[str, Any]:
    found = desk.ticket(number)
    return {k: found[k] for k in ("status", "assignee", "priority", "tags")}


def _trail(desk: Desk, number: int) -> list[tuple[str, str, Any]]:
    """What Bob did to the ticket, with what details, in order (no ids or times)."""
    with desk.db.reading() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.number == number))
        rows = session.scalars(
            select(AuditLog).where(AuditLog.ticket_id == ticket_id).order_by(AuditLog.id)
        )
        return [(r.actor, r.action, r.payload) for r in rows if r.actor == "bob@desk.test"]


def test_do_is_equal_in_effect_audit_and_notifications_to_the_same_lines_by_mail(
    desk: Desk,
) -> None:
    _two_tickets(desk)
    first = next(
        n for n in notifications(_outbox(desk), "bob@desk.test") if "First" in n["Subject"]
    )
    raw, to = agent_reply(first, "\n".join(LINES) + "\n")
    desk.deliver(raw, rcpt_to=(to,))
    answer = desk.cli("do", "TKT-0002", "--as", "bob@desk.test", *LINES)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("TKT-0002: ")
    desk.send_outbox()

    assert _state(desk, 1) == _state(desk, 2)
    assert _state(desk, 2)["status"] == "pending" and _state(desk, 2)["priority"] == "urgent"
    assert len(_trail(desk, 2)) == len(LINES) and _trail(desk, 1) == _trail(desk, 2)
    told = [text_of(n) for n in notifications(_outbox(desk), "eve@desk.test")]
    for label in ("TKT-0001", "TKT-0002"):
        assert any(f"Assigned on {label}" in text for text in told), told


def test_one_bad_line_changes_nothing_and_every_error_is_named(desk: Desk) -> None:
    _two_tickets(desk)
    before = (_state(desk, 1), _trail(desk, 1))
    answer = desk.cli(
        "do", "TKT-0001", "--as", "bob@desk.test", "#status pending", "#assign zed", "#bogus"
    )
    assert answer.returncode == 1
    assert "nothing was changed on TKT-0001" in answer.stderr
    assert "#assign zed" in answer.stderr and "#bogus" in answer.stderr
    assert (_state(desk, 1), _trail(desk, 1)) == before
    assert "Traceback" not in answer.stderr


def test_do_replies_to_the_customer_or_notes_with_the_text(desk: Desk) -> None:
    _two_tickets(desk)
    replied = desk.cli(
        "do",
        "TKT-0001",
        "--as",
        "bob@desk.test",
        "--text",
        "-",
        "--json",
        stdin="Hello Alice, it is fixed.\n",
    )
    assert replied.returncode == 0, replied.stderr
    noted = desk.cli(
        "do", "1", "--as", "bob@desk.test", "note", "--text", "-", stdin="Internal only.\n"
    )
    assert noted.returncode == 0, noted.stderr
    desk.send_outbox()
    texts = [text_of(m) for m in mails_to(_outbox(desk), "alice@customer.test")]
    assert any("Hello Alice, it is fixed." in t for t in texts)
    assert not any("Internal only." in t for t in texts)


def test_who_and_which_ticket_are_checked(desk: Desk) -> None:
    _two_tickets(desk)
    stranger = desk.cli("do", "TKT-0001", "--as", "mallory@evil.test", "#close")
    assert stranger.returncode == 1 and "not an active agent" in stranger.stderr
    missing = desk.cli("do", "TKT-0999", "--as", "bob@desk.test", "#close")
    assert missing.returncode == 1 and "no ticket TKT-0999" in missing.stderr
    empty = desk.cli("do", "TKT-0001", "--as", "bob@desk.test")
    assert empty.returncode == 1 and "empty" in empty.stderr


def test_help_is_answered_on_the_terminal(desk: Desk) -> None:
    _two_tickets(desk)
    helped = desk.cli("do", "TKT-0001", "--as", "bob@desk.test", "#help")
    assert helped.returncode == 0, helped.stderr
    assert "#assign" in helped.stdout and "#status" in helped.stdout
