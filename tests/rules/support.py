"""Building one-rule rule sets and facts for the rules tests."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.rules import (
    Facts,
    RuleDecision,
    RuleOutcome,
    RulesContext,
    RuleSet,
    evaluate,
    parse_rules,
)
from tests.support.mail import make_mail

MONDAY_10 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, in business hours (UTC)
SATURDAY_23 = datetime(2026, 11, 7, 23, 0, tzinfo=UTC)


def mail(**kwargs: object) -> ParsedMessage:
    """A parsed message from tests.support.mail.make_mail (same keyword arguments)."""
    return parse_message(make_mail(**kwargs))  # type: ignore[arg-type]


def rule_text(condition: str, then: str = "- tag: hit", name: str = "r") -> str:
    """One rule with ``condition`` (YAML, block style) under ``if``."""
    body = textwrap.indent(textwrap.dedent(condition).strip("\n"), "    ")
    actions = textwrap.indent(textwrap.dedent(then).strip("\n"), "    ")
    return f"- name: {name}\n  if:\n{body}\n  then:\n{actions}\n"


def one_rule(condition: str, then: str = "- tag: hit") -> RuleSet:
    return parse_rules(rule_text(condition, then))


def decide(
    rules: RuleSet,
    msg: ParsedMessage | None = None,
    *,
    event: str = "new_ticket",
    now: datetime = MONDAY_10,
    tickets: int = 0,
    context: RulesContext | None = None,
) -> RuleDecision:
    facts = Facts(msg or mail(), event, now, tickets)
    return evaluate(rules, facts, context or RulesContext())


def judge(condition: str, msg: ParsedMessage | None = None, **kwargs: object) -> RuleOutcome:
    """The outcome of a single rule with this condition, for this message."""
    return decide(one_rule(condition), msg, **kwargs).outcomes[0]  # type: ignore[arg-type]
