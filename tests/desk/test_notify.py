"""Notifications to agents: who gets them, what they show, how they are signed."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from sqlalchemy import select, update

from echodesk.desk.outbound.notify import MARKER
from echodesk.store import agents
from echodesk.store.models import Agent, Ticket
from tests.support.agent import agent_reply
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(team: Desk) -> Desk:
    return team


def _agent_id(desk: Desk, email: str) -> int:
    with desk.db.reading() as session:
        return int(session.scalars(select(Agent.id).where(Agent.email == email)).one())


def _sent(desk: Desk) -> list[tuple[str, EmailMessage]]:
    """Deliver the outbox to .eml files; (recipient, message) of each notification."""
    desk.send_outbox()
    out = []
    for path in sorted((desk.settings.data_dir / "outbox").glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        if msg["Auto-Submitted"] == "auto-generated":
            out.append((msg["To"].addresses[0].addr_spec, msg))
    for path in (desk.settings.data_dir / "outbox").glob("*.eml"):
        path.unlink()
    return out


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def test_a_new_ticket_notifies_every_agent_with_signed_headers(desk: Desk) -> None:
    pdf = make_mail(message_id="m1@customer.test", body="My printer is on fire.\n")
    desk.deliver(pdf)
    got = dict(_sent(desk))
    assert sorted(got) == ["bob@desk.test", "eve@desk.test"]
    msg = got["bob@desk.test"]
    bob = _agent_id(desk, "bob@desk.test")
    with desk.db.reading() as session:
        ticket_id = int(session.scalars(select(Ticket.id)).one())
    own = desk.ctx.addresses
    assert own.agent_of_address(msg["Reply-To"].addresses[0].addr_spec) == (ticket_id, bob)
    assert own.agent_of_message_id(msg["Message-ID"]) == (ticket_id, bob)
    assert msg["In-Reply-To"] == f"<{own.ticket_root_id(ticket_id)}>"
    assert msg["References"] == f"<{own.ticket_root_id(ticket_id)}>"
    assert msg["Subject"] == "[TKT-0001] Printer on fire"
    assert msg["X-Auto-Response-Suppress"] == "All"
    text = _text(msg)
    assert text.startswith(MARKER + "\n")
    assert "New ticket on TKT-0001" in text
    assert "Status:   open" in text and "Assignee: nobody" in text
    assert "Customer: Alice Customer <alice@customer.test>" in text
    assert "My printer is on fire." in text
    assert "#assign me" in text and "#status open" in text
    # Eve's copy is signed for Eve: Bob's signature is not Eve's.
    eve_copy = got["eve@desk.test"]
    eve = _agent_id(desk, "eve@desk.test")
    assert own.agent_of_address(eve_copy["Reply-To"].addresses[0].addr_spec) == (ticket_id, eve)


def test_a_reply_shows_the_new_message_and_the_two_before_it(desk: Desk) -> None:
    ids = ["m1@customer.test", "m2@customer.test", "m3@customer.test", "m4@customer.test"]
    for n, mid in enumerate(ids):
        desk.deliver(
            make_mail(
                message_id=mid,
                subject="Re: Printer on fire" if n else "Printer on fire",
                body=f"Message number {n + 1}.\n",
                in_reply_to=ids[n - 1] if n else None,
                minutes=n,
            )
        )
    last = [m for to, m in _sent(desk) if to == "bob@desk.test"][-1]
    text = _text(last)
    assert "Customer reply on TKT-0001" in text
    assert text.index("Message number 4.") < text.index("Message number 3.")
    assert "Message number 2." in text and "Message number 1." not in text
    roots = {m["References"] for _, m in _sent(desk)} | {last["References"]}
    assert len(roots) == 1  # one thread per ticket in the agent's client


def test_only_the_assignee_hears_of_an_assigned_ticket(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    _sent(desk)
    with desk.db.transaction() as session:
        session.execute(update(Ticket).values(assignee_id=_agent_id(desk, "eve@desk.test")))
    desk.deliver(make_mail(message_id="m2@customer.test", in_reply_to="m1@customer.test"))
    got = _sent(desk)
    assert [to for to, _ in got] == ["eve@desk.test"]
    assert "Assignee: Eve Agent <eve@desk.test>" in _text(got[0][1])


def test_a_note_notifies_the_others_never_its_author(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    _sent(desk)
    desk.note(1, "Customer is a VIP.", agent="bob@desk.test")
    got = _sent(desk)
    assert [to for to, _ in got] == ["eve@desk.test"]
    assert "Internal note on TKT-0001" in _text(got[0][1])
    assert "Customer is a VIP." in _text(got[0][1])


def test_unassigned_tickets_go_to_the_configured_agents_and_never_to_disabled_ones(
    desk: Desk,
) -> None:
    desk.reconfigure(notify_unassigned=("eve@desk.test", "bob@desk.test"))
    with desk.db.transaction() as session:
        agents.disable(session, "bob@desk.test")
    desk.deliver(make_mail(message_id="m1@customer.test"))
    assert [to for to, _ in _sent(desk)] == ["eve@desk.test"]
    desk.reconfigure(notify_unassigned=("someone-else@desk.test",))
    desk.deliver(make_mail(message_id="m2@customer.test", in_reply_to="m1@customer.test"))
    assert _sent(desk) == []


def test_attachments_are_listed(desk: Desk) -> None:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Photo"
    msg["Message-ID"] = "<photo@customer.test>"
    msg.set_content("See the photo.\n")
    msg.add_attachment(
        b"\x89PNG" + b"0" * 3000, maintype="image", subtype="png", filename="fire.png"
    )
    desk.deliver(msg.as_bytes())
    text = _text(dict(_sent(desk))["bob@desk.test"])
    assert "Attachments: fire.png (3 kB)" in text


def test_a_reply_with_three_commands_is_one_notification_showing_the_end_state(
    desk: Desk,
) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    notes = dict(_sent(desk))
    raw, to = agent_reply(
        notes["eve@desk.test"],
        "#assign bob\n#status pending\n#note\nShe sounded worried; Bob knows the model.",
        sender="Eve Agent <eve@desk.test>",
    )
    outcome = desk.deliver(raw, (to,))
    assert outcome.kind == "agent"
    got = _sent(desk)
    assert [to for to, _ in got] == ["bob@desk.test"]  # one, and never to Eve herself
    text = _text(got[0][1])
    assert "Assigned on TKT-0001: assigned by Eve Agent" in text
    assert "Internal note on TKT-0001" in text
    assert "Status:   pending" in text and "Assignee: Bob Agent <bob@desk.test>" in text
    assert "She sounded worried" in text


def test_commands_that_are_not_applied_notify_nobody(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    notes = dict(_sent(desk))
    raw, to = agent_reply(
        notes["eve@desk.test"],
        "#assign bob\n#merge TKT-0999\n\nThis should not go anywhere.",
        sender="Eve Agent <eve@desk.test>",
    )
    desk.deliver(raw, (to,))
    assert [to for to, _ in _sent(desk)] == []
