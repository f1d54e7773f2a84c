"""evaluate(): rule order, `on`, `stop`, the RuleDecision's views, and never raising."""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from echodesk.mailbox.message import Address
from echodesk.mailbox.parse import parse_message
from echodesk.rules import EMPTY, Action, Facts, RuleOutcome, RulesContext, evaluate, parse_rules
from tests.rules.support import MONDAY_10, decide, judge, mail

RULES = parse_rules(
    """
- name: tag everything
  if: {always: true}
  then: {tag: seen}
- name: new only
  on: new_ticket
  if: {subject: printer}
  then: [{priority: high}, {assign: alice@example.com}]
- name: replies only
  on: customer_reply
  if: {always: true}
  then: {status: open}
- name: phishing
  if: {subject: fire}
  then: [{quarantine: phishing}, {notify: security@example.com}]
  stop: true
- name: after stop
  if: {always: true}
  then: {drop: true}
"""
)


def test_actions_of_every_matched_rule_in_rule_order() -> None:
    decision = decide(RULES, mail(subject="Printer on fire"))
    assert decision.actions == (
        Action("tag", "tag everything", values=("seen",)),
        Action("priority", "new only", value="high"),
        Action("assign", "new only", value="alice@example.com"),
        Action("quarantine", "phishing", value="phishing"),
        Action("notify", "phishing", values=("security@example.com",)),
    )
    assert [o.rule for o in decision.hits] == ["tag everything", "new only", "phishing"]
    assert decision.quarantine == Action("quarantine", "phishing", value="phishing")
    assert decision.drop is None


def test_on_and_stop_are_explained() -> None:
    decision = decide(RULES, mail(subject="Printer on fire"))
    assert decision.misses == (
        RuleOutcome(
            "replies only", False, "skipped: the rule is on customer_reply, this is new_ticket"
        ),
        RuleOutcome(
            "after stop",
            False,
            "not evaluated: rule 'phishing' matched and stops evaluation (stop: true)",
        ),
    )
    assert len(decision.outcomes) == 5


def test_customer_reply_runs_reply_rules_and_skips_new_ticket_rules() -> None:
    decision = decide(RULES, mail(subject="Thanks"), event="customer_reply")
    assert [o.rule for o in decision.hits] == ["tag everything", "replies only", "after stop"]
    assert decision.outcomes[1].why == "skipped: the rule is on new_ticket, this is customer_reply"
    assert decision.drop == Action("drop", "after stop", value="dropped by rule 'after stop'")
    assert decision.quarantine is None


def test_stop_only_when_the_rule_matches() -> None:
    decision = decide(RULES, mail(subject="Hello"))
    assert [o.rule for o in decision.hits] == ["tag everything", "after stop"]
    assert decision.outcomes[3].why == "subject contains 'fire': no ('Hello')"


def test_first_quarantine_and_drop() -> None:
    rules = parse_rules(
        """
- {name: one, if: {always: true}, then: [{drop: first}, {quarantine: q1}]}
- {name: two, if: {always: true}, then: [{quarantine: q2}, {drop: second}]}
"""
    )
    decision = decide(rules)
    assert decision.quarantine == Action("quarantine", "one", value="q1")
    assert decision.drop == Action("drop", "one", value="first")


def test_empty_rule_set() -> None:
    decision = evaluate(EMPTY, Facts(mail(), "new_ticket", MONDAY_10))
    assert (decision.actions, decision.outcomes, decision.hits) == ((), (), ())
    assert EMPTY.rules == () and EMPTY.agents == frozenset()


def test_evaluation_is_pure() -> None:
    msg = mail(subject="Printer on fire")
    assert decide(RULES, msg) == decide(RULES, msg)


def test_a_check_that_breaks_is_a_no_that_says_so() -> None:
    broken = dataclasses.replace(mail(), headers={"x-spam-score": None})  # type: ignore[dict-item]
    outcome = judge("spam_score: {gt: 5}", broken)
    assert outcome.matched is False
    assert outcome.why == (
        "spam_score > 5: no (cannot evaluate: TypeError: 'NoneType' object is not iterable)"
    )


PATHOLOGICAL = [
    (r"(a+)+$", False),
    (r"(x+x+)+y", False),
    (r"(a|aa)+$", False),
    (r"(.*a){12}", True),
]


@pytest.mark.parametrize(("pattern", "matches"), PATHOLOGICAL)
def test_catastrophic_patterns_are_accepted_and_run_in_linear_time(
    pattern: str, matches: bool
) -> None:
    rules = parse_rules(
        f"""
- name: subject
  if: {{subject: {{matches: '{pattern}'}}}}
  then: {{tag: x}}
- name: body
  if: {{body: {{matches: '{pattern}'}}}}
  then: {{tag: x}}
"""
    )
    evil = "a" * 50_000 + "x" * 50_000 + "!"
    msg = dataclasses.replace(mail(), subject=evil, text=evil * 10)
    started = time.perf_counter()
    decision = decide(rules, msg)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{pattern} took {elapsed:.2f}s"
    assert [o.matched for o in decision.outcomes] == [matches, matches]


def test_a_pathological_match_that_succeeds() -> None:
    msg = dataclasses.replace(mail(), subject="x" * 100_000 + "y")
    started = time.perf_counter()
    outcome = judge(r"subject: {matches: '(x+x+)+y'}", msg)
    assert time.perf_counter() - started < 2.0
    assert outcome.matched


EVERYTHING = parse_rules(
    r"""
- name: all of it
  if:
    any:
      - from: {domain: example.com}
      - from: {matches: '^[a-z]+@'}
      - to: {in: [support@desk.test]}
      - cc: {starts_with: x}
      - subject: {is: hello}
      - subject: {matches: '(a+)+$'}
      - body: {contains: refund}
      - body: {matches: 'inv\d+'}
      - header: X-Priority
        is: "1"
      - header: List-Id
      - has_attachment: true
      - attachment_type: image/*
      - spam_score: {gt: 5}
      - size: {gt: 1MB}
      - customer_tickets_24h: {gte: 3}
      - business_hours: false
      - weekday: [sat, sun]
      - time: {between: ["18:00", "08:00"]}
      - not: {always: true}
  then: {tag: x}
"""
)


def test_evaluation_never_raises_on_hostile_messages() -> None:
    rng = random.Random(20261102)
    heads = [
        b"From: \xff\xfe<<@@>>\r\n",
        b"Subject: =?utf-8?B?////?=\r\n",
        b"X-Spam-Score: nan\r\n",
    ]
    context = RulesContext(timezone="Pacific/Kiritimati", business_hours="sat-tue 22:00-03:00")
    for round_ in range(300):
        size = rng.choice([0, 1, 10, 200, 5000])
        raw = bytes(rng.randrange(256) for _ in range(size))
        if round_ % 3 == 0:
            raw = b"".join(rng.sample(heads, k=rng.randrange(len(heads) + 1))) + b"\r\n" + raw
        facts = Facts(
            parse_message(raw), rng.choice(["new_ticket", "customer_reply", "??"]), MONDAY_10
        )
        decision = evaluate(EVERYTHING, facts, context)
        assert len(decision.outcomes) == 1
        assert "cannot evaluate" not in decision.outcomes[0].why


def test_strange_but_valid_messages() -> None:
    odd = dataclasses.replace(
        mail(),
        from_=Address(name="\udcff\x00", email="\udcfe@\udcfd"),
        to=(),
        subject="\x00" * 10,
        text="",
        headers={},
        size=0,
    )
    decision = decide(EVERYTHING, odd, event="customer_reply")
    assert "cannot evaluate" not in decision.outcomes[0].why
    assert decision.outcomes[0].why.encode("utf-8")  # storable: no lone surrogates
