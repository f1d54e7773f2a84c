"""Evaluation: a RuleSet and one message's facts -> a RuleDecision. Decide, never act.

:func:`evaluate` is pure: no I/O, no clock (``facts.now``), no database. It
returns every matched rule's actions in rule order, and for every rule an
:class:`RuleOutcome` saying whether it matched and why, which is what
``rules test`` prints and what the audit log keeps. Carrying the actions out
is the desk's single apply step.
"""

from __future__ import annotations

from dataclasses import dataclass

from echodesk.rules.actions import Action
from echodesk.rules.base import View, run
from echodesk.rules.facts import Facts, RulesContext
from echodesk.rules.schema import Rule, RuleSet


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's result; ``why`` names the conditions looked at and their answers."""

    rule: str
    matched: bool
    why: str
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class RuleDecision:
    actions: tuple[Action, ...]  # of every matched rule, in rule order
    outcomes: tuple[RuleOutcome, ...]  # one per rule, skipped ones included

    @property
    def hits(self) -> tuple[RuleOutcome, ...]:
        return tuple(o for o in self.outcomes if o.matched)

    @property
    def misses(self) -> tuple[RuleOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.matched)

    @property
    def quarantine(self) -> Action | None:
        """The first quarantine action, if any."""
        return next((a for a in self.actions if a.kind == "quarantine"), None)

    @property
    def drop(self) -> Action | None:
        """The first drop action, if any."""
        return next((a for a in self.actions if a.kind == "drop"), None)


DEFAULT_CONTEXT = RulesContext()


def _outcome(rule: Rule, view: View, stopped_by: str) -> RuleOutcome:
    if stopped_by:
        why = f"not evaluated: rule '{stopped_by}' matched and stops evaluation (stop: true)"
        return RuleOutcome(rule.name, False, why)
    event = view.facts.event
    if rule.on != "any" and rule.on != event:
        return RuleOutcome(rule.name, False, f"skipped: the rule is on {rule.on}, this is {event}")
    result = run(rule.condition, view)
    return RuleOutcome(rule.name, result.held, result.why, rule.actions if result.held else ())


def evaluate(rules: RuleSet, facts: Facts, context: RulesContext = DEFAULT_CONTEXT) -> RuleDecision:
    """Every rule in order, against one message; never raises for any message."""
    view = View(facts, context)
    outcomes: list[RuleOutcome] = []
    stopped_by = ""
    for rule in rules.rules:
        outcome = _outcome(rule, view, stopped_by)
        outcomes.append(outcome)
        if outcome.matched and rule.stop:
            stopped_by = rule.name
    actions = tuple(a for o in outcomes for a in o.actions)
    return RuleDecision(actions=actions, outcomes=tuple(outcomes))
