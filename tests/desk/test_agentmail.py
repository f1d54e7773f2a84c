"""Agents answering notifications by email: verified, commands applied all or nothing."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from echodesk.store import agents
from echodesk.store.models import Agent, Ticket, TicketTag
from tests.support.agent import agent_reply, mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(team: Desk) -> Desk:
    return team


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _ticket_with_notification(desk: Desk, agent: str = "bob@desk.test") -> EmailMessage:
    desk.deliver(make_mail(message_id="m1@customer.test", body="My printer is on fire.\n"))
    desk.send_outbox()
    return notifications(_outbox(desk), agent)[-1]


def _answer(desk: Desk, raw: bytes, to: str) -> str:
    outcome = desk.deliver(raw, rcpt_to=(to,))
    desk.send_outbox()
    return outcome.reason


def _ticket(desk: Desk, number: int = 1) -> Ticket:
    with desk.db.reading() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        session.expunge(ticket)
        return ticket


def _assignee(desk: Desk) -> str | None:
    with desk.db.reading() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == 1)).one()
        agent = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
        return agent.email if agent else None


def _to_customer(desk: Desk) -> list[EmailMessage]:
    return mails_to(_outbox(desk), "alice@customer.test")


@pytest.mark.parametrize("style", ["gmail", "outlook", "apple", "thunderbird"])
def test_commands_apply_and_only_the_new_text_reaches_the_customer(desk: Desk, style: str) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(
        note,
        "#assign me\n#status pending\n\nHello Alice, please unplug it now.\n\nBob",
        style=style,
    )
    reason = _answer(desk, raw, to)
    assert "reply queued" in reason
    ticket = _ticket(desk)
    assert (ticket.status, _assignee(desk)) == ("pending", "bob@desk.test")
    (sent,) = _to_customer(desk)
    assert text_of(sent).strip() == "Hello Alice, please unplug it now.\n\nBob"
    assert sent["Subject"] == "Re: Printer on fire [TKT-0001]"
    assert sent["In-Reply-To"] == "<m1@customer.test>"


def test_a_note_stays_internal_and_tells_the_other_agents(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#note\nCalled the customer, it is a toaster.")
    _answer(desk, raw, to)
    assert _to_customer(desk) == []
    messages = desk.ticket(1)["messages"]
    assert [(m["direction"], m["kind"]) for m in messages] == [
        ("inbound", "customer"),
        ("internal", "note"),
    ]
    assert messages[1]["body_text"] == "Called the customer, it is a toaster."
    eve = notifications(_outbox(desk), "eve@desk.test")
    assert "Called the customer, it is a toaster." in text_of(eve[-1])
    assert len(notifications(_outbox(desk), "bob@desk.test")) == 1  # not told of his own note


def test_a_command_only_reply_changes_the_ticket_and_sends_nothing(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#tag billing urgent\n#priority high\n#assign eve")
    _answer(desk, raw, to)
    assert _to_customer(desk) == []
    ticket = _ticket(desk)
    assert ticket.priority == "high" and _assignee(desk) == "eve@desk.test"
    with desk.db.reading() as session:
        tags = sorted(session.scalars(select(TicketTag.tag)))
    assert tags == ["billing", "urgent"]
    told = notifications(_outbox(desk), "eve@desk.test")
    assert "Assigned on TKT-0001: assigned by Bob Agent" in text_of(told[-1])


@pytest.mark.parametrize(
    ("commands", "why"),
    [
        ("#status finished", "unknown status 'finished'"),
        ("#assign nosuchagent", "no active agent 'nosuchagent'"),
        ("#merge TKT-9999", "no ticket TKT-9999"),
        ("#frobnicate now", "unknown command '#frobnicate'"),
        ("#merge TKT-0001", "cannot be merged into itself"),
    ],
)
def test_a_bad_line_applies_nothing_and_the_agent_is_told_why(
    desk: Desk, commands: str, why: str
) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, f"#tag vip\n{commands}\n\nHello Alice, on it.")
    reason = _answer(desk, raw, to)
    assert reason.startswith("commands rejected")
    ticket = _ticket(desk)
    assert (ticket.status, ticket.assignee_id) == ("open", None)
    with desk.db.reading() as session:
        assert list(session.scalars(select(TicketTag.tag))) == []
    assert _to_customer(desk) == []
    report = [
        m for m in mails_to(_outbox(desk), "bob@desk.test") if m["Auto-Submitted"] == "auto-replied"
    ]
    text = text_of(report[-1])
    assert commands in text and why in text
    assert "#tag vip  (add tag vip)" in text  # what would have been applied
    assert "nothing was sent to the customer" in text


def test_an_attachment_with_only_commands_is_refused(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#status resolved", attachment=("invoice.pdf", b"%PDF"))
    _answer(desk, raw, to)
    assert _to_customer(desk) == [] and _ticket(desk).status == "open"
    report = mails_to(_outbox(desk), "bob@desk.test")[-1]
    assert "attachment but no text for the customer" in text_of(report)


def test_help_answers_with_every_command(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#help")
    _answer(desk, raw, to)
    text = text_of(mails_to(_outbox(desk), "bob@desk.test")[-1])
    for usage in ("#assign me", "#status open|pending|resolved|closed", "#merge TKT-0040", "#note"):
        assert usage in text
    assert _to_customer(desk) == []


def _rejected(desk: Desk, raw: bytes, to: str, tell: str, why: str) -> None:
    before = _ticket(desk)
    reason = _answer(desk, raw, to)
    assert reason.startswith("not executed") and why in reason
    after = _ticket(desk)
    assert (after.status, after.assignee_id) == (before.status, before.assignee_id)
    assert _to_customer(desk) == []
    told = [m for m in mails_to(_outbox(desk), tell) if m["Auto-Submitted"] == "auto-replied"]
    assert told and why in text_of(told[-1])


def test_a_forged_from_without_a_signature_is_not_executed(desk: Desk) -> None:
    _ticket_with_notification(desk)
    forged = make_mail(
        message_id="forged@evil.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Re: [TKT-0001] Printer on fire",
        body="#assign me\n#status closed\n\nThis ticket is closed.\n",
    )
    _rejected(desk, forged, "support@desk.test", "bob@desk.test", "no signature")


def test_another_agents_signature_is_not_enough(desk: Desk) -> None:
    eves = _ticket_with_notification(desk, agent="eve@desk.test")
    raw, to = agent_reply(eves, "#status closed\n\nBye.")  # sent by Bob
    _rejected(desk, raw, to, "bob@desk.test", "another agent")


def test_a_stranger_with_an_agents_signature_is_not_executed(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#status closed\n\nBye.", sender="Mallory <mallory@evil.test>")
    _rejected(desk, raw, to, "bob@desk.test", "not an active agent")


def test_a_dkim_failure_is_not_executed(desk: Desk) -> None:
    desk.reconfigure(trusted_authserv_ids=("mx.desk.test",))
    note = _ticket_with_notification(desk)
    failed = {
        "Authentication-Results": "mx.desk.test; dkim=fail (bad signature) header.d=desk.test; "
        "spf=pass smtp.mailfrom=bob@desk.test"
    }
    raw, to = agent_reply(note, "#status closed\n\nBye.", headers=failed)
    _rejected(desk, raw, to, "bob@desk.test", "dkim=fail")


def test_a_disabled_agent_and_an_alias(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    with desk.db.transaction() as session:
        agents.add_alias(session, "bob@desk.test", "bob.private@home.test")
    raw, to = agent_reply(note, "#priority urgent", sender="Bob <bob.private@home.test>")
    _answer(desk, raw, to)
    assert _ticket(desk).priority == "urgent"
    with desk.db.transaction() as session:
        agents.disable(session, "bob@desk.test")
    raw, to = agent_reply(note, "#priority low", message_id="agent2@desk.test")
    reason = _answer(desk, raw, to)
    assert reason.startswith("not executed") and _ticket(desk).priority == "urgent"


def test_an_agents_out_of_office_answer_does_nothing(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(
        note, "I am on holiday until Monday.", headers={"Auto-Submitted": "auto-replied"}
    )
    outcome = desk.deliver(raw, rcpt_to=(to,))
    desk.send_outbox()
    assert outcome.kind == "auto-reply"
    assert _to_customer(desk) == []
    assert [m["direction"] for m in desk.ticket(1)["messages"]] == ["inbound"]


def test_an_internal_note_quoted_without_markers_never_reaches_the_customer(desk: Desk) -> None:
    _ticket_with_notification(desk)
    desk.note(1, "Customer owes us 300 EUR, do not promise anything.", agent="eve@desk.test")
    desk.send_outbox()
    told = notifications(_outbox(desk), "bob@desk.test")[-1]
    raw, to = agent_reply(
        told,
        "Hello Alice,\nCustomer owes us 300 EUR, do not promise anything.\nBest, Bob",
        message_id="leak@desk.test",
    )
    reason = _answer(desk, raw, to)
    assert reason.startswith("commands rejected") and _to_customer(desk) == []


def test_merge_moves_everything_and_later_replies_land_in_the_target(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="a1@customer.test", subject="Printer on fire"))
    desk.deliver(
        make_mail(
            message_id="b1@other.test",
            sender="Carl <carl@other.test>",
            subject="Printer still on fire",
        )
    )
    desk.send_outbox()
    about_two = [
        m for m in notifications(_outbox(desk), "bob@desk.test") if "TKT-0002" in m["Subject"]
    ][-1]
    raw, to = agent_reply(about_two, "#merge TKT-0001\n#tag duplicate")
    _answer(desk, raw, to)
    two, one = _ticket(desk, 2), _ticket(desk, 1)
    assert (two.status, two.merged_into_id) == ("closed", one.id)
    detail = desk.ticket(1)
    assert {m["message_id"] for m in detail["messages"]} >= {"a1@customer.test", "b1@other.test"}
    assert "duplicate" in detail["tags"]
    # Carl answers his own old thread: it lands in TKT-0001.
    later = make_mail(
        message_id="b2@other.test",
        sender="Carl <carl@other.test>",
        subject="Re: Printer still on fire",
        in_reply_to="b1@other.test",
    )
    assert desk.deliver(later).ticket_number == 1
    # And by subject tag: Carl is still a participant of the target.
    tagged = make_mail(
        message_id="b3@other.test", sender="carl@other.test", subject="Again [TKT-0002]"
    )
    assert desk.deliver(tagged).ticket_number == 1


def test_a_signature_moved_to_another_ticket_is_worthless(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    desk.deliver(make_mail(message_id="x1@other.test", sender="carl@other.test", subject="Other"))
    to = note["Reply-To"].addresses[0].addr_spec
    ticket_one = desk.ctx.addresses.agent_of_address(to)
    assert ticket_one is not None
    moved = to.replace(f"a-{ticket_one[0]}-", f"a-{ticket_one[0] + 1}-")
    raw = make_mail(
        message_id="moved@desk.test",
        sender="Bob Agent <bob@desk.test>",
        to=moved,
        subject="Re: [TKT-0002] Other",
        body="#status closed\n",
    )
    reason = _answer(desk, raw, moved)
    assert reason.startswith("not executed") and "no signature" in reason
    assert _ticket(desk, 2).status == "open"


def test_cc_then_the_next_reply_copies_them_and_spam_closes_silently(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    raw, to = agent_reply(note, "#cc Manager@Customer.test")
    _answer(desk, raw, to)
    raw, to = agent_reply(note, "We are on it.", message_id="agent2@desk.test")
    _answer(desk, raw, to)
    (sent,) = _to_customer(desk)
    assert [a.addr_spec for a in sent["Cc"].addresses] == ["manager@customer.test"]
    raw, to = agent_reply(note, "#spam", message_id="agent3@desk.test")
    _answer(desk, raw, to)
    ticket = desk.ticket(1)
    assert (ticket["status"], ticket["tags"]) == ("closed", ["spam"])
    assert len(_to_customer(desk)) == 1


def test_a_reply_that_cannot_be_sent_changes_nothing_and_says_why(desk: Desk) -> None:
    note = _ticket_with_notification(desk)
    with desk.db.transaction() as session:
        session.execute(update(Ticket).values(customer_id=None))  # e.g. an internal ticket
    raw, to = agent_reply(note, "#priority high\n\nHello?")
    reason = _answer(desk, raw, to)
    assert reason.startswith("not applied") and "no customer address" in reason
    assert _ticket(desk).priority == "normal"
    report = mails_to(_outbox(desk), "bob@desk.test")[-1]
    assert "no customer address" in text_of(report)
