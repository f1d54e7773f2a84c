"""The collision guard: a reply to a notification that is out of date is held until the
agent confirms it with ``#send``.

Two agents (Bob and Eve) get the same notification; the mail they answer with
goes through the whole pipeline, and what reaches the customer is read back
from the outbox. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import update

from echodesk.desk.jobs.wakeups import run_wakeups
from echodesk.store.models import HeldDraft
from echodesk.store.types import utcnow
from tests.support.agent import agent_reply, mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail

NAMES = {"bob@desk.test": "Bob Agent", "eve@desk.test": "Eve Agent"}
_ids = count(1)


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.deliver(make_mail(message_id="q1@customer.test", subject="Printer"))
    team.send_outbox()
    return team


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _latest(desk: Desk, agent: str) -> EmailMessage:
    return notifications(_outbox(desk), agent)[-1]


def _answer(desk: Desk, agent: str, note: EmailMessage, text: str) -> None:
    sender = f"{NAMES[agent]} <{agent}>"
    raw, to = agent_reply(note, text, sender=sender, message_id=f"g{next(_ids)}@desk.test")
    desk.deliver(raw, rcpt_to=(to,))
    desk.send_outbox()


def _to_alice(desk: Desk) -> list[str]:
    return [text_of(m).strip() for m in mails_to(_outbox(desk), "alice@customer.test")]


def _customer_writes_again(desk: Desk) -> None:
    desk.deliver(
        make_mail(
            message_id="q2@customer.test",
            subject="Re: Printer",
            body="It is smoking now.\n",
            in_reply_to="q1@customer.test",
            references=["q1@customer.test"],
            minutes=5,
        )
    )
    desk.send_outbox()


def test_the_second_of_two_agents_answering_one_notification_is_held_until_send(
    desk: Desk,
) -> None:
    bobs, eves = _latest(desk, "bob@desk.test"), _latest(desk, "eve@desk.test")
    _answer(desk, "bob@desk.test", bobs, "Hello Alice, Bob here: unplug it.")
    _answer(desk, "eve@desk.test", eves, "Hello Alice, Eve here: call the fire brigade.")
    assert _to_alice(desk) == ["Hello Alice, Bob here: unplug it."]

    held = _latest(desk, "eve@desk.test")
    told = text_of(held)
    assert "Reply held on TKT-0001: Bob Agent replied since your notification" in told
    assert "> Hello Alice, Eve here: call the fire brigade." in told
    assert "Bob here: unplug it." in told  # the newer message she had not seen

    _answer(desk, "eve@desk.test", held, "#send\n")
    assert _to_alice(desk)[-1] == "Hello Alice, Eve here: call the fire brigade."
    _answer(desk, "eve@desk.test", held, "#send\n")  # once only
    assert len(_to_alice(desk)) == 2
    assert "none of your replies is held" in text_of(mails_to(_outbox(desk), "eve@desk.test")[-1])


def test_a_customer_message_after_the_notification_holds_the_reply(desk: Desk) -> None:
    old = _latest(desk, "bob@desk.test")
    _customer_writes_again(desk)
    _answer(desk, "bob@desk.test", old, "Hello Alice, please unplug it.")
    assert _to_alice(desk) == []
    told = text_of(_latest(desk, "bob@desk.test"))
    assert "the customer wrote again since your notification" in told
    assert "It is smoking now." in told


def test_commands_that_agree_apply_at_once_and_one_that_undoes_a_newer_change_waits(
    desk: Desk,
) -> None:
    old = _latest(desk, "eve@desk.test")
    _customer_writes_again(desk)
    _answer(desk, "eve@desk.test", old, "#tag vip\n#resolve\n\nAll fixed, Alice.")
    ticket = desk.ticket(1)
    assert ticket["tags"] == ["vip"] and ticket["status"] == "open"
    assert _to_alice(desk) == []
    held = _latest(desk, "eve@desk.test")
    assert "> #resolve" in text_of(held)
    _answer(desk, "eve@desk.test", held, "#send\n")
    assert desk.ticket(1)["status"] == "resolved"
    assert _to_alice(desk) == ["All fixed, Alice."]


def test_assigning_after_a_colleague_took_the_ticket_waits(desk: Desk) -> None:
    eves = _latest(desk, "eve@desk.test")
    _answer(desk, "bob@desk.test", _latest(desk, "bob@desk.test"), "#assign me\n")
    _answer(desk, "eve@desk.test", eves, "#assign me\n")
    assert desk.ticket(1)["assignee"] == "bob@desk.test"
    told = text_of(_latest(desk, "eve@desk.test"))
    assert "someone else assigned the ticket" in told and "> #assign me" in told


def test_a_newer_answer_replaces_the_held_reply_and_discard_drops_it(desk: Desk) -> None:
    bobs, eves = _latest(desk, "bob@desk.test"), _latest(desk, "eve@desk.test")
    _answer(desk, "bob@desk.test", bobs, "Bob here.")
    _answer(desk, "eve@desk.test", eves, "Eve here, first try.")
    held = _latest(desk, "eve@desk.test")
    _answer(desk, "eve@desk.test", held, "Eve here, having read Bob.")
    assert _to_alice(desk) == ["Bob here.", "Eve here, having read Bob."]
    with desk.db.reading() as session:
        assert session.query(HeldDraft).count() == 0

    _answer(desk, "bob@desk.test", _latest(desk, "bob@desk.test"), "Bob again.")
    _answer(desk, "eve@desk.test", held, "Eve, from an old mail.")
    dropped = _latest(desk, "eve@desk.test")
    _answer(desk, "eve@desk.test", dropped, "#discard\n")
    assert "Eve, from an old mail." not in "\n".join(_to_alice(desk))
    with desk.db.reading() as session:
        assert session.query(HeldDraft).count() == 0


def test_an_internal_note_is_never_held(desk: Desk) -> None:
    old = _latest(desk, "bob@desk.test")
    _customer_writes_again(desk)
    _answer(desk, "bob@desk.test", old, "#note\n\nShe sounds worried.")
    with desk.db.reading() as session:
        assert session.query(HeldDraft).count() == 0


def test_a_held_reply_older_than_held_draft_days_is_dropped_with_a_notice(desk: Desk) -> None:
    old = _latest(desk, "bob@desk.test")
    _customer_writes_again(desk)
    _answer(desk, "bob@desk.test", old, "Forgotten words.")
    with desk.db.transaction() as session:
        stale = utcnow() - timedelta(days=desk.settings.held_draft_days, hours=1)
        session.execute(update(HeldDraft).values(created_at=stale))
    run_wakeups(desk.db, desk.ctx)
    run_wakeups(desk.db, desk.ctx)
    desk.send_outbox()
    notices = [
        text_of(n)
        for n in notifications(_outbox(desk), "bob@desk.test")
        if "dropped after" in text_of(n)
    ]
    assert len(notices) == 1 and "> Forgotten words." in notices[0]
    assert _to_alice(desk) == []
