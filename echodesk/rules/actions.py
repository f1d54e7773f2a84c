"""Actions: what a matching rule asks for, as plain data.

Rules decide, they never act: an :class:`Action` is a value the desk's single
apply step carries out (assign, tag, reply, quarantine, ...). Each kind of
action is a small registry entry that reads its YAML value into Actions and
says precisely what is wrong with it otherwise.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from string import Template

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from echodesk.rules.nodes import BOOL, Reader, Where, describe
from echodesk.rules.text import quote
from echodesk.statuses import PRIORITIES, STATUSES

KINDS = (
    "assign",
    "assign_round_robin",
    "tag",
    "untag",
    "status",
    "priority",
    "auto_reply",
    "notify",
    "quarantine",
    "drop",
)
TEMPLATE_FIELDS = ("ticket", "subject", "name")
TAG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,49}")  # as the agents' #tag command takes them
ADDRESS = re.compile(r"[^@\s<>,;\"()\[\]]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*")


@dataclass(frozen=True)
class Action:
    """One thing a rule asks for; ``rule`` names the rule, for the audit log."""

    kind: str  # one of KINDS
    rule: str
    value: str = ""  # agent email, status, priority, template text, reason
    values: tuple[str, ...] = ()  # tags, round-robin agents, notify addresses


Parse = Callable[[Node, Reader, Where, str], tuple[Action, ...] | None]


@dataclass(frozen=True)
class ActionKind:
    name: str
    usage: str
    description: str
    parse: Parse


def _address(node: Node, text: str, r: Reader, where: Where, agent: bool) -> str | None:
    address = text.strip().lower()
    if not ADDRESS.fullmatch(address):
        r.problem(node, where, f"not an email address: {quote(text)}")
        return None
    if agent and r.agents is not None and address not in r.agents:
        r.problem(node, where, f"unknown agent '{address}'")
        return None
    return address


def _addresses(node: Node, r: Reader, where: Where, agent: bool) -> tuple[str, ...] | None:
    found = r.texts(node, where, "an address or a list of addresses")
    if found is None:
        return None
    addresses = [_address(item, text, r, where, agent) for item, text in found]
    good = [a for a in addresses if a is not None]
    return tuple(dict.fromkeys(good)) if len(good) == len(addresses) else None


def _assign(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
    if not isinstance(node, MappingNode):
        text = r.text(node, where, "an agent's address or {round_robin: [...]}")
        agent = None if text is None else _address(node, text, r, where, agent=True)
        return None if agent is None else (Action("assign", rule, value=agent),)
    pairs = r.mapping(node, where, "{round_robin: [...]}")
    if pairs is None:
        return None
    if not pairs:
        r.problem(node, where, "expected {round_robin: [...]}, got an empty mapping")
        return None
    if [p.key for p in pairs] != ["round_robin"]:
        for pair in (p for p in pairs if p.key != "round_robin"):
            r.problem(pair.key_node, where, f"unknown key '{pair.key}' (use round_robin)")
        return None
    at = where.child("round_robin")
    if not isinstance(pairs[0].value, SequenceNode):
        r.problem(pairs[0].value, at, f"expected a list of agents, got {describe(pairs[0].value)}")
        return None
    agents = _addresses(pairs[0].value, r, at, agent=True)
    return None if agents is None else (Action("assign_round_robin", rule, values=agents),)


def _tags(kind: str) -> Parse:
    def parse(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
        found = r.texts(node, where, "a tag or a list of tags")
        if found is None:
            return None
        tags = [text.strip().lower() for _, text in found]
        bad = [
            (item, text)
            for (item, text), tag in zip(found, tags, strict=True)
            if not TAG.fullmatch(tag)
        ]
        for item, text in bad:
            r.problem(
                item, where, f"not a tag: {quote(text)} (letters, digits, - _ . : only, up to 50)"
            )
        return None if bad else (Action(kind, rule, values=tuple(dict.fromkeys(tags))),)

    return parse


def _choice(kind: str, choices: tuple[str, ...]) -> Parse:
    def parse(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
        text = r.text(node, where, f"one of {', '.join(choices)}")
        if text is None:
            return None
        if text.strip().lower() not in choices:
            r.problem(node, where, f"unknown {kind} {quote(text)} (use {', '.join(choices)})")
            return None
        return (Action(kind, rule, value=text.strip().lower()),)

    return parse


def template_problem(text: str) -> str:
    """What is wrong with an auto-reply template, or '' (placeholders: $ticket $subject $name)."""
    template = Template(text)
    if not template.is_valid():
        return "a '$' that starts no placeholder (write $$ for a dollar sign)"
    unknown = [n for n in template.get_identifiers() if n not in TEMPLATE_FIELDS]
    if unknown:
        known = ", ".join(f"${n}" for n in TEMPLATE_FIELDS)
        return f"unknown placeholder ${unknown[0]} (use {known})"
    return ""


def _auto_reply(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
    text = r.text(node, where, "the reply's text")
    if text is None:
        return None
    problem = "empty text" if not text.strip() else template_problem(text)
    if problem:
        r.problem(node, where, problem)
        return None
    return (Action("auto_reply", rule, value=text),)


def _notify(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
    addresses = _addresses(node, r, where, agent=False)
    return None if addresses is None else (Action("notify", rule, values=addresses),)


def _reason(kind: str, verb: str) -> Parse:
    def parse(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
        if isinstance(node, ScalarNode) and node.tag == BOOL:
            if r.flag(node, where):
                return (Action(kind, rule, value=f"{verb} by rule '{rule}'"),)
            r.problem(node, where, "false does nothing (give a reason or true, or remove it)")
            return None
        text = r.text(node, where, "a reason or true")
        if text is not None and not text.strip():
            r.problem(node, where, "empty reason (give a reason or true)")
            return None
        return None if text is None else (Action(kind, rule, value=text.strip()),)

    return parse


ACTIONS: dict[str, ActionKind] = {
    kind.name: kind
    for kind in (
        ActionKind(
            "assign",
            "assign: AGENT | {round_robin: [AGENT, ...]}",
            "assign the ticket to an agent, or in turn to one of several",
            _assign,
        ),
        ActionKind("tag", "tag: TAG | [TAG, ...]", "add tags", _tags("tag")),
        ActionKind("untag", "untag: TAG | [TAG, ...]", "remove tags", _tags("untag")),
        ActionKind(
            "status",
            f"status: {' | '.join(STATUSES)}",
            "set the status",
            _choice("status", STATUSES),
        ),
        ActionKind(
            "priority",
            f"priority: {' | '.join(PRIORITIES)}",
            "set the priority",
            _choice("priority", PRIORITIES),
        ),
        ActionKind(
            "auto_reply",
            "auto_reply: TEXT",
            "answer the customer with this text ($ticket, $subject, $name filled in)",
            _auto_reply,
        ),
        ActionKind(
            "notify",
            "notify: ADDRESS | [ADDRESS, ...]",
            "send a notification about the ticket to these addresses",
            _notify,
        ),
        ActionKind(
            "quarantine",
            "quarantine: REASON | true",
            "hold the message for an operator instead of opening a ticket",
            _reason("quarantine", "quarantined"),
        ),
        ActionKind(
            "drop",
            "drop: REASON | true",
            "keep the message out of the desk (recorded, never answered)",
            _reason("drop", "dropped"),
        ),
    )
}


def _action(item: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
    pairs = r.mapping(item, where, "an action (a mapping like '- tag: billing')")
    if pairs is None:
        return None
    if len(pairs) != 1 or len(item.value) != 1:
        keys = ", ".join(p.key for p in pairs)
        r.problem(item, where, f"one action per list item, found {keys or 'none'}")
        return None
    pair = pairs[0]
    kind = ACTIONS.get(pair.key)
    if kind is None:
        close = difflib.get_close_matches(pair.key, list(ACTIONS), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"use {', '.join(ACTIONS)}"
        r.problem(pair.key_node, where, f"unknown action '{pair.key}' ({hint})")
        return None
    return kind.parse(pair.value, r, where.child(pair.key), rule)


def parse_actions(node: Node, r: Reader, where: Where, rule: str) -> tuple[Action, ...] | None:
    """``then:``: a list of one-key mappings (or one such mapping), in order."""
    items = [node] if isinstance(node, MappingNode) else None
    if isinstance(node, SequenceNode):
        items = list(node.value)
    if not items:
        shown = "an empty list" if isinstance(node, SequenceNode) else describe(node)
        r.problem(node, where, f"expected a list of actions, got {shown}")
        return None
    found = []
    for index, item in enumerate(items):
        at = where.at(index) if isinstance(node, SequenceNode) else where
        if r.spend(item, at) and (actions := _action(item, r, at, rule)) is not None:
            found.append(actions)
    if len(found) != len(items):
        return None
    return tuple(a for actions in found for a in actions)
