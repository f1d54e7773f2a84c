"""A colleague's reply to the customer reaches the agents following the ticket, in the
ticket's notification thread: the assignee, earlier repliers, and whoever said
``#follow``; not whoever said ``#unfollow``, and never the one who wrote it.
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agent import agent_reply, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail

HEADLINE = "Reply to the customer on TKT-0001"


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.deliver(make_mail(message_id="q@customer.test", subject="Printer"))
    team.send_outbox()
    return team


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _told(desk: Desk, agent: str) -> list[str]:
    desk.send_outbox()
    return [text_of(n) for n in notifications(_outbox(desk), agent) if HEADLINE in text_of(n)]


def _by_mail(desk: Desk, agent: str, text: str, n: int) -> None:
    note = notifications(_outbox(desk), agent)[-1]
    name = "Bob Agent" if agent.startswith("bob") else "Eve Agent"
    raw, to = agent_reply(note, text, sender=f"{name} <{agent}>", message_id=f"a{n}@desk.test")
    desk.deliver(raw, rcpt_to=(to,))
    desk.send_outbox()


def test_the_assignee_gets_a_colleagues_reply_in_the_tickets_thread(desk: Desk) -> None:
    _by_mail(desk, "bob@desk.test", "#assign me\n", 1)
    desk.reply(1, "Hello Alice, Eve here: try turning it off and on.", agent="eve@desk.test")
    (told,) = _told(desk, "bob@desk.test")
    assert "Eve here: try turning it off and on." in told
    assert _told(desk, "eve@desk.test") == []  # never the one who wrote it
    thread = [n for n in notifications(_outbox(desk), "bob@desk.test")]
    assert len({str(n["In-Reply-To"]) for n in thread}) == 1  # one thread per ticket


def test_earlier_repliers_follow_until_they_unfollow(desk: Desk) -> None:
    desk.reply(1, "Bob here, looking into it.", agent="bob@desk.test")
    desk.reply(1, "Eve here, found it.", agent="eve@desk.test")
    assert len(_told(desk, "bob@desk.test")) == 1
    _by_mail(desk, "bob@desk.test", "#unfollow\n", 2)
    desk.reply(1, "Eve again.", agent="eve@desk.test")
    assert len(_told(desk, "bob@desk.test")) == 1
    assert len(_told(desk, "eve@desk.test")) == 0


def test_follow_brings_replies_to_someone_who_never_replied(desk: Desk) -> None:
    _by_mail(desk, "eve@desk.test", "#follow\n", 3)
    desk.reply(1, "Bob here, fixed.", agent="bob@desk.test")
    (told,) = _told(desk, "eve@desk.test")
    assert "Bob here, fixed." in told
    done = desk.cli("do", "TKT-0001", "--as", "bob@desk.test", "#unfollow eve")
    assert done.returncode == 0, done.stderr
    desk.reply(1, "Bob again.", agent="bob@desk.test")
    assert len(_told(desk, "eve@desk.test")) == 1
