"""Routing rules applied by the pipeline: each action, its audit row, reload, hostile input."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.store import spool
from echodesk.store.models import Agent, AuditLog, Ticket
from tests.support.agent import mails_to, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(team: Desk, tmp_path: Path) -> Iterator[Desk]:
    team.reconfigure(rules_file=tmp_path / "rules.yaml")
    yield team


def _rules(desk: Desk, text: str) -> None:
    desk.settings.rules_file.write_text(text)
    desk.ctx.rules.request_reload()


def _assignee(desk: Desk, number: int) -> str | None:
    with desk.db.reading() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        agent = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
        return agent.email if agent else None


def _audit(desk: Desk, prefix: str) -> list[tuple[str, str, dict[str, object]]]:
    with desk.db.reading() as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id)
        )
        return [(r.actor, r.action, r.payload) for r in rows]


def test_routing_actions_and_their_audit_rows(desk: Desk) -> None:
    _rules(
        desk,
        """
- name: Big customers
  on: new_ticket
  if:
    all:
      - from: {domain: bigcorp.example}
      - subject: {contains: invoice}
  then:
    - assign: eve@desk.test
    - tag: [billing, vip]
    - priority: high
- name: Everyone
  if: {always: true}
  then:
    - tag: seen
""",
    )
    desk.deliver(
        make_mail(
            message_id="b1@bigcorp.example",
            sender="ceo@mail.bigcorp.example",
            subject="Invoice wrong",
        )
    )
    desk.deliver(make_mail(message_id="o1@other.test", sender="x@other.test", subject="Invoice"))
    one, two = desk.ticket(1), desk.ticket(2)
    assert (one["tags"], one["priority"], _assignee(desk, 1)) == (
        ["billing", "seen", "vip"],
        "high",
        "eve@desk.test",
    )
    assert (two["tags"], two["priority"], _assignee(desk, 2)) == (["seen"], "normal", None)
    actions = [(actor, action) for actor, action, _ in _audit(desk, "rules.")]
    assert actions[:3] == [
        ("rule:Big customers", "rules.assign"),
        ("rule:Big customers", "rules.tag"),
        ("rule:Big customers", "rules.priority"),
    ]
    # The assignee alone hears of the ticket a rule assigned; both of the other one.
    desk.send_outbox()
    outbox = desk.settings.data_dir / "outbox"
    bob = [m["Subject"] for m in mails_to(outbox, "bob@desk.test")]
    eve = [m["Subject"] for m in mails_to(outbox, "eve@desk.test")]
    assert bob == ["[TKT-0002] Invoice"]
    assert sorted(eve) == ["[TKT-0001] Invoice wrong", "[TKT-0002] Invoice"]


def test_round_robin_takes_turns(desk: Desk) -> None:
    _rules(
        desk,
        """
- name: Share the load
  if: {always: true}
  then:
    - assign: {round_robin: [bob@desk.test, eve@desk.test]}
""",
    )
    for n in range(4):
        desk.deliver(make_mail(message_id=f"r{n}@x.test", sender=f"c{n}@x.test", subject=f"Q{n}"))
    assert [_assignee(desk, n) for n in range(1, 5)] == [
        "bob@desk.test",
        "eve@desk.test",
        "bob@desk.test",
        "eve@desk.test",
    ]


def test_on_customer_reply_and_stop(desk: Desk) -> None:
    _rules(
        desk,
        """
- name: Replies wake the ticket
  on: customer_reply
  if: {always: true}
  then: [{status: open}, {priority: urgent}]
  stop: true
- name: Never after a reply
  if: {always: true}
  then: [{tag: second}]
""",
    )
    desk.deliver(make_mail(message_id="m1@customer.test"))
    assert desk.ticket(1)["tags"] == ["second"]
    desk.reply(1, "Please send a photo.\n")
    assert desk.ticket(1)["status"] == "pending"
    desk.deliver(make_mail(message_id="m2@customer.test", in_reply_to="m1@customer.test"))
    ticket = desk.ticket(1)
    assert (ticket["status"], ticket["priority"], ticket["tags"]) == ("open", "urgent", ["second"])


def test_auto_reply_and_notify(desk: Desk) -> None:
    _rules(
        desk,
        """
- name: Weekend notice
  if: {always: true}
  then:
    - auto_reply: "Hello $name, $ticket is noted; we are back on Monday."
    - notify: [lead@partner.test]
""",
    )
    desk.deliver(make_mail(message_id="m1@customer.test"))
    desk.note(1, "Secret internal remark about this customer.")
    desk.deliver(make_mail(message_id="m2@customer.test", subject="Second", minutes=3))
    desk.send_outbox()
    outbox = desk.settings.data_dir / "outbox"
    replies = mails_to(outbox, "alice@customer.test")
    assert len(replies) == 2
    assert text_of(replies[0]).strip() == (
        "Hello Alice Customer, TKT-0001 is noted; we are back on Monday."
    )
    assert replies[0]["Auto-Submitted"] == "auto-replied"
    copies = mails_to(outbox, "lead@partner.test")
    assert len(copies) == 2 and "TKT-0002" in copies[1]["Subject"]
    assert all("Secret internal remark" not in text_of(c) for c in copies)
    assert all("support+a-" not in str(c["Reply-To"] or "") for c in copies)


def test_quarantine_and_drop_by_rule_and_release(desk: Desk) -> None:
    _rules(
        desk,
        """
- name: Newsletters
  if: {from: {domain: news.example}}
  then: [{drop: "newsletter"}]
- name: Suspicious
  if: {subject: {matches: "(?i)crypto|bitcoin"}}
  then: [{quarantine: "looks like a scam"}]
""",
    )
    dropped = desk.deliver(make_mail(message_id="n1@news.example", sender="hello@news.example"))
    held = desk.deliver(make_mail(message_id="c1@x.test", subject="Free BITCOIN"))
    assert (dropped.state, dropped.reason) == (
        "dropped",
        "dropped by rule 'Newsletters': newsletter",
    )
    assert (held.state, held.reason) == ("quarantined", "rule 'Suspicious': looks like a scam")
    assert desk.tickets() == []
    assert [r["state"] for r in desk.spool()] == ["dropped", "quarantined"]
    with desk.db.transaction() as session:
        spool.release(session, held.spool_id)
    (released,) = [o for o in desk.run_worker_until_idle() if o.spool_id == held.spool_id]
    assert released.created_ticket


def test_an_agent_who_left_is_skipped_not_failed(desk: Desk) -> None:
    _rules(desk, "- name: To Zed\n  if: {always: true}\n  then: [{assign: zed@desk.test}]\n")
    outcome = desk.deliver(make_mail(message_id="m1@customer.test"))
    assert outcome.created_ticket and _assignee(desk, 1) is None
    ((_, action, payload),) = _audit(desk, "rules.")
    assert action == "rules.skipped" and "zed@desk.test" in str(payload["reason"])


def test_the_file_is_reloaded_when_it_changes_and_a_bad_one_is_ignored(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    _rules(desk, "- name: A\n  if: {always: true}\n  then: [{tag: first}]\n")
    desk.deliver(make_mail(message_id="m1@customer.test", subject="One"))
    time.sleep(1.1)  # the file is looked at once a second
    desk.settings.rules_file.write_text(
        "- name: B\n  if: {always: true}\n  then: [{tag: second}]\n"
    )
    desk.deliver(make_mail(message_id="m2@customer.test", subject="Two"))
    time.sleep(1.1)
    with caplog.at_level(logging.ERROR):
        desk.settings.rules_file.write_text("- name: C\n  if: {nonsense: 1}\n  then: [{tag: x}]\n")
        desk.deliver(make_mail(message_id="m3@customer.test", subject="Three"))
    assert [desk.ticket(n)["tags"] for n in (1, 2, 3)] == [["first"], ["second"], ["second"]]
    assert "last good rules stay in force" in caplog.text and "nonsense" in caplog.text
    assert "nonsense" in desk.ctx.rules.error


def test_a_pathological_pattern_does_not_stall_the_pipeline(desk: Desk) -> None:
    _rules(desk, '- name: Evil\n  if: {subject: {matches: "(a+)+$"}}\n  then: [{tag: evil}]\n')
    started = time.monotonic()
    outcome = desk.deliver(make_mail(message_id="m1@customer.test", subject="a" * 50_000 + "!"))
    assert time.monotonic() - started < 10
    assert outcome.created_ticket and desk.ticket(1)["tags"] == []
