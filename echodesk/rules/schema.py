"""Rules files: YAML text -> a validated :class:`RuleSet`, or every problem at once.

Reading never stops at the first mistake: each rule, condition and action is
checked, and a :class:`~echodesk.rules.nodes.RulesFileError` lists them all as
``FILE:LINE:COLUMN: rule 'NAME': KEY: what is wrong``, so an operator fixes
a file in one round. A file that loads is fully checked: regular expressions
compiled, agents known, times and sizes read. Evaluation then has nothing left
that can go wrong with the rules themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from echodesk.rules.actions import Action, parse_actions
from echodesk.rules.base import Condition
from echodesk.rules.conditions import parse_condition, parse_list
from echodesk.rules.logic import AllOf
from echodesk.rules.nodes import STR, Pair, Reader, RulesFileError, Where, describe
from echodesk.rules.text import printable, quote

ON = ("new_ticket", "customer_reply", "any")
RULE_KEYS = ("name", "on", "if", "then", "stop")
#: Larger rules files are refused before parsing (YAML parsing is slow, and the
#: file is read on every start).
MAX_FILE = 1_000_000


@dataclass(frozen=True)
class Rule:
    name: str
    on: str  # new_ticket | customer_reply | any
    condition: Condition
    actions: tuple[Action, ...]
    stop: bool = False
    line: int = 0


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str

    @property
    def agents(self) -> frozenset[str]:
        """Every agent address the rules assign to (round-robin included), lower-case."""
        found: set[str] = set()
        for rule in self.rules:
            for action in rule.actions:
                if action.kind == "assign":
                    found.add(action.value)
                elif action.kind == "assign_round_robin":
                    found.update(action.values)
        return frozenset(found)


EMPTY = RuleSet(rules=(), source="<none>")


def _compose(text: str, r: Reader) -> Node | None:
    if len(text) > MAX_FILE:
        r.problem(None, Where(), f"larger than {MAX_FILE} characters")
        return None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = ""
        if exc.context and exc.context_mark:
            context = f" ({exc.context}, line {exc.context_mark.line + 1})"
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        r.problems.append(f"{r.source}{where}: YAML syntax error: {exc.problem}{context}")
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        r.problems.append(
            f"{r.source}:{line}:{column}: YAML syntax error: character #x{exc.character:04x} "
            f"is not allowed ({exc.reason})"
        )
    except yaml.YAMLError as exc:
        r.problems.append(f"{r.source}: YAML syntax error: {printable(str(exc))}")
    except RecursionError:
        r.problems.append(f"{r.source}: YAML nested too deeply")
    return None


def _label(node: Node, index: int) -> str:
    """``rule 'NAME'`` if the rule has a name as text, else ``rule #N`` (for every problem)."""
    names = [
        str(value.value).strip()
        for key, value in (node.value if isinstance(node, MappingNode) else ())
        if key.value == "name" and isinstance(value, ScalarNode) and value.tag == STR
    ]
    return f"rule {quote(names[0], 80)}" if names and names[0] else f"rule #{index}"


def _name(node: Node, pairs: dict[str, Pair], where: Where, r: Reader, seen: dict[str, int]) -> str:
    """The rule's name, or '' (with a problem) if it is missing, empty or taken."""
    where = where.child("name")
    if "name" not in pairs:
        r.problem(node, where, "missing (every rule needs a unique name)")
        return ""
    value = pairs["name"].value
    text = r.text(value, where, "the rule's name as text")
    name = "" if text is None else text.strip()
    if text is not None and not name:
        r.problem(value, where, "empty (every rule needs a unique name)")
    if not name:
        return ""
    key = name.casefold()
    if key in seen:
        r.problem(value, where, f"duplicate name {quote(name)} (first used at line {seen[key]})")
        return ""
    seen[key] = value.start_mark.line + 1
    return name


def _condition(node: Node, r: Reader, where: Where) -> Condition | None:
    """``if``: one condition mapping, or a list of them that must all hold."""
    if isinstance(node, SequenceNode):
        items = parse_list(node, r, where, 1)
        return None if items is None else AllOf(items, top=True)
    condition = parse_condition(node, r, where)
    if isinstance(condition, AllOf):
        return dataclasses.replace(condition, top=True)
    return condition


def _on(pairs: dict[str, Pair], r: Reader, where: Where) -> str | None:
    if "on" not in pairs:
        return "any"
    node = pairs["on"].value
    text = r.text(node, where.child("on"), "an event")
    if text is not None and text.strip() not in ON:
        r.problem(node, where.child("on"), f"unknown event {quote(text)} (use {', '.join(ON)})")
        return None
    return None if text is None else text.strip()


def _stop(pairs: dict[str, Pair], r: Reader, where: Where) -> bool | None:
    return False if "stop" not in pairs else r.flag(pairs["stop"].value, where.child("stop"))


def _rule(node: Node, index: int, r: Reader, seen: dict[str, int]) -> Rule | None:
    where = Where(_label(node, index))
    found = r.mapping(node, where, "a rule (a mapping with name, if and then)")
    if found is None:
        return None
    pairs = {p.key: p for p in found}
    name = _name(node, pairs, where, r, seen)
    for pair in pairs.values():
        if pair.key not in RULE_KEYS:
            r.problem(
                pair.key_node, where, f"unknown key '{pair.key}' (use {', '.join(RULE_KEYS)})"
            )
    if "if" not in pairs and "then" not in pairs:
        r.problem(node, where, "empty rule: it needs 'if' (conditions) and 'then' (actions)")
        return None
    if "if" not in pairs:
        r.problem(
            node, where.child("if"), "missing (to match every message write 'if: {always: true}')"
        )
    if "then" not in pairs:
        r.problem(node, where.child("then"), "missing (a rule needs at least one action)")
    on, stop = _on(pairs, r, where), _stop(pairs, r, where)
    cond = _condition(pairs["if"].value, r, where.child("if")) if "if" in pairs else None
    label = name or f"#{index}"
    acts = (
        parse_actions(pairs["then"].value, r, where.child("then"), label)
        if "then" in pairs
        else None
    )
    if not name or on is None or stop is None or cond is None or acts is None:
        return None
    return Rule(name, on, cond, acts, stop, line=node.start_mark.line + 1)


def _checked_rule(node: Node, index: int, r: Reader, seen: dict[str, int]) -> Rule | None:
    """:func:`_rule`, making sure a rule that cannot be read never vanishes silently."""
    before = len(r.problems)
    rule = _rule(node, index, r, seen) if r.spend(node, Where()) else None
    if rule is None and len(r.problems) == before:
        r.problem(node, Where(_label(node, index)), "cannot be read (no reason given)")
    return rule


def parse_rules(
    text: str, source: str = "<string>", agents: Collection[str] | None = None
) -> RuleSet:
    """Read and check a rules file's text; RulesFileError lists every problem.

    With ``agents``, every address an ``assign`` names must be one of them.
    An empty file (or one holding only comments) has no rules.
    """
    r = Reader(source, agents)
    root = _compose(text, r)
    rules: list[Rule] = []
    if root is not None and not isinstance(root, SequenceNode):
        r.problem(root, Where(), f"expected a list of rules ('- name: ...'), got {describe(root)}")
    elif root is not None:
        seen: dict[str, int] = {}
        for index, item in enumerate(root.value, start=1):
            rule = _checked_rule(item, index, r, seen)
            if rule is not None:
                rules.append(rule)
    if r.problems:
        raise RulesFileError(tuple(r.problems))
    return RuleSet(rules=tuple(rules), source=source)


def load_rules(path: Path, agents: Collection[str] | None = None) -> RuleSet:
    """:func:`parse_rules` on a file; a missing or unreadable file is a RulesFileError too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RulesFileError((f"{path}: rules file not found",)) from exc
    except UnicodeDecodeError as exc:
        raise RulesFileError((f"{path}: rules file is not UTF-8 text",)) from exc
    except OSError as exc:
        raise RulesFileError((f"{path}: cannot read rules file: {exc.strerror}",)) from exc
    return parse_rules(text, str(path), agents)
