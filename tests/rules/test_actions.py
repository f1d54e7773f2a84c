"""Every action's parsed form: plain data, normalised, in the order written."""

from __future__ import annotations

import pytest

from echodesk.rules import Action, parse_rules
from tests.rules.support import rule_text


def actions(then: str) -> tuple[Action, ...]:
    return parse_rules(rule_text("always: true", then, name="R")).rules[0].actions


@pytest.mark.parametrize(
    ("then", "expected"),
    [
        ("assign: Alice@Example.com", Action("assign", "R", value="alice@example.com")),
        (
            "assign: {round_robin: [a@example.com, B@example.com, a@example.com]}",
            Action("assign_round_robin", "R", values=("a@example.com", "b@example.com")),
        ),
        ("tag: Billing", Action("tag", "R", values=("billing",))),
        ("tag: [vip, urgent, vip]", Action("tag", "R", values=("vip", "urgent"))),
        ("untag: [waiting, x.y:z-1]", Action("untag", "R", values=("waiting", "x.y:z-1"))),
        ("status: Resolved", Action("status", "R", value="resolved")),
        ("priority: urgent", Action("priority", "R", value="urgent")),
        (
            "auto_reply: 'Dear $name, ticket $ticket ($subject) costs $$5.'",
            Action("auto_reply", "R", value="Dear $name, ticket $ticket ($subject) costs $$5."),
        ),
        ("notify: Lead@Example.com", Action("notify", "R", values=("lead@example.com",))),
        (
            "notify: [a@example.com, b@localhost]",
            Action("notify", "R", values=("a@example.com", "b@localhost")),
        ),
        (
            "quarantine: ' looks like phishing '",
            Action("quarantine", "R", value="looks like phishing"),
        ),
        ("quarantine: true", Action("quarantine", "R", value="quarantined by rule 'R'")),
        ("drop: newsletter", Action("drop", "R", value="newsletter")),
        ("drop: yes", Action("drop", "R", value="dropped by rule 'R'")),
    ],
)
def test_each_action(then: str, expected: Action) -> None:
    assert actions(f"- {then}") == (expected,)


@pytest.mark.parametrize("status", ["open", "pending", "resolved", "closed"])
def test_every_status(status: str) -> None:
    assert actions(f"- status: {status}") == (Action("status", "R", value=status),)


@pytest.mark.parametrize("priority", ["low", "normal", "high", "urgent"])
def test_every_priority(priority: str) -> None:
    assert actions(f"- priority: {priority}") == (Action("priority", "R", value=priority),)


def test_actions_keep_their_order_and_a_single_mapping_is_one_action() -> None:
    kinds = [a.kind for a in actions("- tag: a\n- assign: x@example.com\n- status: pending")]
    assert kinds == ["tag", "assign", "status"]
    assert actions("tag: solo") == (Action("tag", "R", values=("solo",)),)


def test_agents_of_a_rule_set() -> None:
    text = rule_text("always: true", "- assign: A@example.com", name="one") + rule_text(
        "always: true", "- assign: {round_robin: [b@example.com, c@example.com]}", name="two"
    )
    rules = parse_rules(text, agents=["a@example.com", "B@example.com", "c@example.com"])
    assert rules.agents == frozenset({"a@example.com", "b@example.com", "c@example.com"})
