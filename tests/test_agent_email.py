"""Agents working by email, end to end: real SMTP in, a real relay out, real notifications.

``echodesk serve`` receives the customer's mail on its SMTP port and sends the
agent's notification through a recording relay; the agent answers *that*
notification (its real Reply-To and Message-ID) by SMTP, the way Gmail
writes a reply; what reaches the customer is read back from the relay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import agent_reply, text_of
from tests.support.livedesk import Desk, live_desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(tmp_path: Path, db_url: str) -> Iterator[Desk]:
    # The test's SMTP client stands for the company's mail server.
    with live_desk(
        tmp_path,
        db_url,
        ECHODESK_TRUSTED_AUTHSERV_IDS="mx.desk.test",
        ECHODESK_SMTP_TRUSTED_RELAYS="127.0.0.1",
    ) as desk:
        yield desk


def _customer_writes(desk: Desk, mid: str = "m1@customer.test", **kw: object) -> None:
    desk.smtp(make_mail(message_id=mid, **kw), "support@desk.test", "alice@customer.test")  # type: ignore[arg-type]


def test_an_agent_runs_a_ticket_from_the_notification(desk: Desk) -> None:
    _customer_writes(desk)
    (note,) = desk.mail_to("bob@desk.test", 1)
    raw, to = agent_reply(note, "#assign me\n#status pending\n\nHello Alice, please unplug it.")
    desk.smtp(raw, to, "bob@desk.test")
    (answer,) = desk.mail_to("alice@customer.test", 1)
    assert text_of(answer).strip() == "Hello Alice, please unplug it."
    assert "#assign" not in text_of(answer) and "Reply above this line" not in text_of(answer)
    desk.settle()
    ticket = desk.ticket()
    assert (ticket["status"], ticket["assignee"]) == ("pending", "bob@desk.test")
    # A note, and a command-only reply: the customer hears nothing more.
    raw, to = agent_reply(note, "#note\nShe sounded worried.", message_id="agent2@desk.test")
    desk.smtp(raw, to, "bob@desk.test")
    raw, to = agent_reply(note, "#priority urgent", message_id="agent3@desk.test")
    desk.smtp(raw, to, "bob@desk.test")
    desk.settle()
    ticket = desk.ticket()
    assert ticket["priority"] == "urgent"
    assert [m["direction"] for m in ticket["messages"]] == ["inbound", "outbound", "internal"]  # type: ignore[index]
    assert len(desk.mail_to("alice@customer.test", 1)) == 1
    # A bad line: nothing applied, the agent gets the line back with the reason.
    raw, to = agent_reply(note, "#status finished\n\nBye!", message_id="agent4@desk.test")
    desk.smtp(raw, to, "bob@desk.test")
    report = desk.mail_to("bob@desk.test", 2)[-1]
    assert "#status finished" in text_of(report) and "unknown status" in text_of(report)
    desk.settle()
    assert desk.ticket()["status"] == "pending"
    assert len(desk.mail_to("alice@customer.test", 1)) == 1


def test_forgeries_are_not_executed_and_the_real_agent_is_told(desk: Desk) -> None:
    _customer_writes(desk)
    (note,) = desk.mail_to("bob@desk.test", 1)
    forged = make_mail(
        message_id="forged@evil.test",
        sender="Bob Agent <bob@desk.test>",
        subject="Re: [TKT-0001] Printer on fire",
        body="#status closed\n\nWe will not help you.\n",
    )
    desk.smtp(forged, "support@desk.test", "bob@desk.test")
    (eve_note,) = desk.mail_to("eve@desk.test", 1)
    raw, to = agent_reply(eve_note, "#status closed\n\nBye.", message_id="wrong@desk.test")
    desk.smtp(raw, to, "bob@desk.test")  # Bob answering Eve's notification
    failing = {"Authentication-Results": "mx.desk.test; dkim=fail header.d=desk.test"}
    raw, to = agent_reply(
        note, "#status closed\n\nBye.", message_id="dkim@desk.test", headers=failing
    )
    desk.smtp(raw, to, "bob@desk.test")
    told = desk.mail_to("bob@desk.test", 4)[1:]
    reasons = " | ".join(text_of(m) for m in told)
    assert "no signature" in reasons and "another agent" in reasons and "dkim=fail" in reasons
    desk.settle()
    assert desk.ticket()["status"] == "open"
    assert [r for r in desk.relay.received if r.rcpt == ("alice@customer.test",)] == []


def test_after_a_merge_replies_to_either_thread_land_in_the_target(desk: Desk) -> None:
    _customer_writes(desk, "a1@customer.test", subject="Printer on fire")
    desk.mail_to("bob@desk.test", 1)
    _customer_writes(desk, "a2@customer.test", subject="Printer STILL on fire")
    second = desk.mail_to("bob@desk.test", 2)[-1]
    assert "TKT-0002" in second["Subject"]
    raw, to = agent_reply(second, "#merge TKT-0001", message_id="merge@desk.test")
    desk.smtp(raw, to, "bob@desk.test")
    desk.settle()
    assert desk.ticket("TKT-0002")["merged_into"] == "TKT-0001"
    _customer_writes(
        desk,
        "a3@customer.test",
        subject="Re: Printer STILL on fire",
        in_reply_to="a2@customer.test",
    )
    desk.settle()
    ids = [m["message_id"] for m in desk.ticket("TKT-0001")["messages"]]  # type: ignore[index]
    assert ids == ["a1@customer.test", "a2@customer.test", "a3@customer.test"]
