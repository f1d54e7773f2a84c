"""Threading end to end: raw mail in, tickets out, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.support.desk import Desk
from tests.support.mail import make_mail

ROOT = "root@customer.test"


def _conversation(n: int) -> list[bytes]:
    """A first message and n-1 replies, each naming the whole chain so far."""
    ids = [ROOT] + [f"r{i}@customer.test" for i in range(1, n)]
    mails = [make_mail(message_id=ROOT)]
    for i in range(1, n):
        sender = "support@desk.test" if i % 2 else "Alice Customer <alice@customer.test>"
        mails.append(
            make_mail(
                subject="Re: Printer on fire",
                sender=sender if i % 2 == 0 else "Alice Customer <alice@customer.test>",
                message_id=ids[i],
                in_reply_to=ids[i - 1],
                references=ids[:i],
                minutes=i,
                body=f"Reply number {i}\n",
            )
        )
    return mails


def test_a_conversation_of_five_messages_is_one_ticket(desk: Desk) -> None:
    outcomes = [desk.deliver(raw) for raw in _conversation(5)]
    assert [o.created_ticket for o in outcomes] == [True, False, False, False, False]
    tickets = desk.tickets()
    assert len(tickets) == 1
    detail = desk.ticket(1)
    assert detail["number"] == "TKT-0001"
    assert detail["subject"] == "Printer on fire"
    assert detail["customer"] == "alice@customer.test"
    assert len(detail["messages"]) == 5
    reasons = [m["thread_reason"] for m in detail["messages"]]
    assert reasons[0] == "new ticket"
    assert reasons[1:] == [
        f"In-Reply-To <{mid}>"
        for mid in [ROOT, "r1@customer.test", "r2@customer.test", "r3@customer.test"]
    ]


def test_every_references_id_is_used_not_only_the_last(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    # The parent named by In-Reply-To and the last reference never reached Echo.
    reply = make_mail(
        subject="Re: Printer on fire",
        message_id="late@customer.test",
        in_reply_to="missing2@elsewhere.test",
        references=[ROOT, "missing1@elsewhere.test", "missing2@elsewhere.test"],
        minutes=5,
    )
    outcome = desk.deliver(reply)
    assert not outcome.created_ticket
    assert outcome.ticket_number == 1
    assert desk.ticket(1)["messages"][1]["thread_reason"] == f"References <{ROOT}>"


def test_subject_tag_from_the_customer_joins_the_ticket(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    tagged = make_mail(subject="Still broken [TKT-0001]", message_id="tag@customer.test", minutes=3)
    outcome = desk.deliver(tagged)
    assert outcome.ticket_number == 1 and not outcome.created_ticket
    assert desk.ticket(1)["messages"][1]["thread_reason"] == "subject tag 1"


def test_subject_tag_from_a_stranger_opens_a_new_ticket(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    stranger = make_mail(
        subject="About [TKT-0001]",
        sender="Mallory <mallory@evil.test>",
        message_id="m@evil.test",
        minutes=3,
    )
    outcome = desk.deliver(stranger)
    assert outcome.created_ticket and outcome.ticket_number == 2
    assert len(desk.ticket(1)["messages"]) == 1
    second = desk.ticket(2)
    assert second["customer"] == "mallory@evil.test"
    assert "non-participant" in second["messages"][0]["thread_reason"]


def test_cc_participant_may_use_the_subject_tag(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT, cc="Bob <bob@customer.test>"))
    outcome = desk.deliver(
        make_mail(
            subject="Re: [TKT-0001]",
            sender="bob@customer.test",
            message_id="bob1@customer.test",
            minutes=2,
        )
    )
    assert outcome.ticket_number == 1


def test_redelivery_is_a_duplicate_and_changes_nothing(desk: Desk) -> None:
    raw = make_mail(message_id=ROOT)
    first = desk.deliver(raw)
    before = desk.ticket(1)
    again = desk.deliver(b"Received: from relay2.test by mx.desk.test; Mon, 2 Nov 2026\r\n" + raw)
    assert first.state == "processed" and again.state == "duplicate"
    assert desk.ticket(1) == before
    assert len(desk.tickets()) == 1
    states = [r["state"] for r in desk.spool()]
    assert states == ["processed", "duplicate"]


def test_same_message_id_with_other_content_is_kept(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT, body="first text\n"))
    other = desk.deliver(make_mail(message_id=ROOT, body="entirely different\n", minutes=9))
    assert other.state == "processed"
    bodies = [
        m["body_text"].strip()
        for t in desk.tickets()
        for m in desk.ticket(int(t["number"].split("-")[1]))["messages"]
    ]
    assert sorted(bodies) == ["entirely different", "first text"]


def test_a_reply_to_a_resolved_ticket_reopens_it(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    _set_status(desk, 1, "resolved")
    desk.deliver(
        make_mail(
            subject="Re: Printer on fire",
            message_id="r1@customer.test",
            in_reply_to=ROOT,
            references=[ROOT],
            minutes=1,
        )
    )
    assert desk.ticket(1)["status"] == "open"


def test_a_reply_to_a_pending_ticket_reopens_it(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    _set_status(desk, 1, "pending")
    desk.deliver(
        make_mail(subject="Re: x", message_id="r1@customer.test", in_reply_to=ROOT, minutes=1)
    )
    assert desk.ticket(1)["status"] == "open"


def test_a_reply_to_a_closed_ticket_opens_a_linked_followup(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    _set_status(desk, 1, "closed")
    outcome = desk.deliver(
        make_mail(
            subject="Re: Printer on fire",
            message_id="r1@customer.test",
            in_reply_to=ROOT,
            minutes=1,
        )
    )
    assert outcome.created_ticket and outcome.ticket_number == 2
    assert desk.ticket(1)["status"] == "closed"
    assert desk.ticket(2)["followup_of"] == "TKT-0001"


def test_a_reply_to_a_closed_ticket_reopens_it_when_configured(desk: Desk) -> None:
    desk.reconfigure(closed_reply="reopen")
    desk.deliver(make_mail(message_id=ROOT))
    _set_status(desk, 1, "closed")
    outcome = desk.deliver(
        make_mail(subject="Re: x", message_id="r1@customer.test", in_reply_to=ROOT, minutes=1)
    )
    assert outcome.ticket_number == 1
    assert desk.ticket(1)["status"] == "open"


def test_a_reply_that_arrives_before_its_parent_ends_in_the_parents_ticket(desk: Desk) -> None:
    reply = make_mail(
        subject="Re: Printer on fire",
        message_id="r1@customer.test",
        in_reply_to=ROOT,
        references=[ROOT],
        minutes=1,
    )
    desk.deliver(reply)
    parent = desk.deliver(make_mail(message_id=ROOT))
    assert not parent.created_ticket
    live = desk.tickets()
    assert len(live) == 1
    detail = desk.ticket(1)
    assert {m["message_id"] for m in detail["messages"]} == {ROOT, "r1@customer.test"}
    assert detail["subject"] == "Printer on fire"
    assert (
        "arrived first"
        in next(m for m in detail["messages"] if m["message_id"] == ROOT)["thread_reason"]
    )


def test_two_early_replies_in_two_tickets_are_joined_when_the_parent_comes(desk: Desk) -> None:
    # Neither reply names the other, so each opens a ticket of its own at first.
    desk.deliver(
        make_mail(subject="Re: a", message_id="a@customer.test", in_reply_to=ROOT, minutes=1)
    )
    desk.deliver(
        make_mail(subject="Re: b", message_id="b@customer.test", in_reply_to=ROOT, minutes=2)
    )
    assert len(desk.tickets()) == 2
    desk.deliver(make_mail(message_id=ROOT))
    live = desk.tickets()
    assert len(live) == 1 and live[0]["messages"] == 3
    merged = [r for r in _all_tickets(desk) if r["merged_into"]]
    assert [r["merged_into"] for r in merged] == [live[0]["number"]]
    # A later reply to the merged ticket's message lands in the live ticket.
    late = desk.deliver(
        make_mail(
            subject="Re: b", message_id="c@customer.test", in_reply_to="b@customer.test", minutes=3
        )
    )
    assert late.ticket_number == int(live[0]["number"].split("-")[1])


def test_an_auto_reply_is_kept_on_its_ticket_without_reopening(desk: Desk) -> None:
    desk.deliver(make_mail(message_id=ROOT))
    _set_status(desk, 1, "pending")
    ooo = make_mail(
        subject="Automatic reply: Printer on fire",
        message_id="ooo@customer.test",
        in_reply_to=ROOT,
        headers={"Auto-Submitted": "auto-replied"},
        minutes=1,
    )
    outcome = desk.deliver(ooo)
    assert outcome.kind == "auto-reply" and outcome.ticket_number == 1
    detail = desk.ticket(1)
    assert detail["status"] == "pending"
    assert detail["messages"][1]["kind"] == "auto-reply"


def test_an_unthreaded_auto_reply_opens_no_ticket(desk: Desk) -> None:
    outcome = desk.deliver(make_mail(message_id="x@customer.test", headers={"Precedence": "bulk"}))
    assert outcome.kind == "auto-reply" and outcome.ticket_id is None
    assert desk.tickets() == []
    assert desk.spool()[0]["detail"] == "Precedence: bulk"


def test_auto_submitted_no_is_a_person(desk: Desk) -> None:
    outcome = desk.deliver(make_mail(headers={"Auto-Submitted": "no"}))
    assert outcome.kind == "customer" and outcome.created_ticket


def test_ticket_numbers_follow_the_prefix_and_width_settings(desk: Desk) -> None:
    desk.reconfigure(ticket_prefix="HELP", ticket_number_width=6)
    desk.deliver(make_mail(message_id="n1@customer.test"))
    desk.deliver(
        make_mail(subject="Other", message_id="n2@customer.test", sender="bob@customer.test")
    )
    assert [t["number"] for t in desk.tickets()] == ["HELP-000001", "HELP-000002"]
    tagged = desk.deliver(
        make_mail(
            subject="Re: [HELP-000002]", sender="bob@customer.test", message_id="n3@customer.test"
        )
    )
    assert tagged.ticket_number == 2


def _all_tickets(desk: Desk) -> list[dict[str, object]]:
    from echodesk.store import readmodels

    with desk.db.reading() as session:
        return readmodels.ticket_list(session, desk.settings, include_merged=True)


def _set_status(desk: Desk, number: int, status: str) -> None:
    from echodesk.store import tickets

    with desk.db.transaction() as session:
        ticket = tickets.by_number(session, number)
        assert ticket is not None
        ticket.status = status
