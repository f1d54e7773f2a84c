"""The condition registry, and reading a condition tree from YAML.

A condition is a mapping with one key naming it (``subject: ...``,
``any: [...]``); only ``header`` has company, its operators beside it. Each
kind is a small registry entry (name, usage, description, parser); the
documentation and ``rules`` help are written from these entries, so adding a
condition is adding an entry here and its module.
"""

from __future__ import annotations

import difflib

from yaml.nodes import Node, SequenceNode

from echodesk.rules import attachments, fields, measures, moments
from echodesk.rules.base import MAX_BODY, Condition, ConditionKind, Entry
from echodesk.rules.logic import AllOf, Always, AnyOf, Not
from echodesk.rules.nodes import Reader, Where, describe

#: Conditions nest at most this deep (a guard against endless alias loops too).
MAX_DEPTH = 32


def _all(entry: Entry, r: Reader) -> Condition | None:
    items = _items(entry, r)
    return None if items is None else AllOf(items)


def _any(entry: Entry, r: Reader) -> Condition | None:
    items = _items(entry, r)
    return None if items is None else AnyOf(items)


def _not(entry: Entry, r: Reader) -> Condition | None:
    node = entry.pair.value
    if isinstance(node, SequenceNode):
        r.problem(
            node,
            entry.where,
            "takes one condition (a mapping), not a list; "
            "for 'none of these' write not: {any: [...]}",
        )
        return None
    item = parse_condition(node, r, entry.where, entry.depth + 1)
    return None if item is None else Not(item)


def _always(entry: Entry, r: Reader) -> Condition | None:
    value = r.flag(entry.pair.value, entry.where)
    return None if value is None else Always(value)


def _items(entry: Entry, r: Reader) -> tuple[Condition, ...] | None:
    node = entry.pair.value
    if not isinstance(node, SequenceNode):
        r.problem(node, entry.where, f"expected a list of conditions, got {describe(node)}")
        return None
    return parse_list(node, r, entry.where, entry.depth + 1)


def parse_list(
    node: SequenceNode, r: Reader, where: Where, depth: int
) -> tuple[Condition, ...] | None:
    """Each item of a non-empty list as a condition; None if any is wrong."""
    if not node.value:
        r.problem(node, where, f"empty list (put at least one condition under {where.key or 'it'})")
        return None
    items = [parse_condition(item, r, where.at(i), depth) for i, item in enumerate(node.value)]
    found = tuple(i for i in items if i is not None)
    return found if len(found) == len(items) else None


_TEXT_OPS = "operators is, contains, starts_with, matches, in"
CONDITIONS: dict[str, ConditionKind] = {
    kind.name: kind
    for kind in (
        ConditionKind(
            "from",
            "from: TEXT | {OPERATOR: VALUE, ...}",
            f"the sender's address; {_TEXT_OPS}, domain",
            fields.parse_address,
        ),
        ConditionKind(
            "to",
            "to: TEXT | {OPERATOR: VALUE, ...}",
            f"any To address; {_TEXT_OPS}, domain",
            fields.parse_address,
        ),
        ConditionKind(
            "cc",
            "cc: TEXT | {OPERATOR: VALUE, ...}",
            f"any Cc address; {_TEXT_OPS}, domain",
            fields.parse_address,
        ),
        ConditionKind(
            "subject",
            "subject: TEXT | {OPERATOR: VALUE, ...}",
            f"the subject; {_TEXT_OPS}",
            fields.parse_text,
        ),
        ConditionKind(
            "body",
            "body: TEXT | {OPERATOR: VALUE, ...}",
            f"the message text (its first {MAX_BODY} characters); {_TEXT_OPS}",
            fields.parse_text,
        ),
        ConditionKind(
            "header",
            "header: NAME [OPERATOR: VALUE ...]",
            f"any value of a header; no operator: the header is present; {_TEXT_OPS}",
            fields.parse_header,
            beside=True,
        ),
        ConditionKind(
            "has_attachment",
            "has_attachment: true | false",
            "the message carries files (inline images included)",
            attachments.parse_has_attachment,
        ),
        ConditionKind(
            "attachment_type",
            "attachment_type: GLOB | [GLOB, ...]",
            "some file's content type matches, like image/* or application/pdf",
            attachments.parse_attachment_type,
        ),
        ConditionKind(
            "spam_score",
            "spam_score: {gt|gte|lt|lte|eq: NUMBER, header: NAME}",
            "the spam filter's score (X-Spam-Flag: YES is spam at any threshold)",
            measures.parse_spam_score,
        ),
        ConditionKind(
            "size",
            "size: {gt|gte|lt|lte|eq: BYTES | 500kB | 10MB}",
            "the raw message size (kB = 1000 bytes, KiB = 1024)",
            measures.parse_size_condition,
        ),
        ConditionKind(
            "customer_tickets_24h",
            "customer_tickets_24h: {gt|gte|lt|lte|eq: COUNT}",
            "tickets the sender opened in the last 24 hours",
            measures.parse_tickets,
        ),
        ConditionKind(
            "business_hours",
            "business_hours: true | false",
            "the message arrived within (true) or outside (false) business hours",
            moments.parse_business_hours_condition,
        ),
        ConditionKind(
            "weekday",
            "weekday: DAY | [DAY | DAY-DAY, ...]",
            "the local day it arrived: mon tue wed thu fri sat sun",
            moments.parse_weekday,
        ),
        ConditionKind(
            "time",
            'time: {between: ["HH:MM", "HH:MM"]}',
            "the local time it arrived; start included, end excluded, may wrap midnight",
            moments.parse_time_condition,
        ),
        ConditionKind("all", "all: [CONDITION, ...]", "every condition holds", _all),
        ConditionKind("any", "any: [CONDITION, ...]", "at least one condition holds", _any),
        ConditionKind("not", "not: CONDITION", "the condition does not hold", _not),
        ConditionKind(
            "always",
            "always: true | false",
            "every message (true) or none (false: a rule switched off)",
            _always,
        ),
    )
}


def _unknown(key: str) -> str:
    close = difflib.get_close_matches(key, list(CONDITIONS), n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"use {', '.join(CONDITIONS)}"
    return f"unknown condition '{key}' ({hint})"


def parse_condition(node: Node, r: Reader, where: Where, depth: int = 0) -> Condition | None:
    """One condition mapping into a Condition; problems recorded, None if it is wrong."""
    if depth > MAX_DEPTH:
        r.problem(node, where, f"conditions nested more than {MAX_DEPTH} deep")
        return None
    if not r.spend(node, where):
        return None
    pairs = r.mapping(node, where, "a condition (a mapping like 'subject: urgent')")
    if not pairs:
        if pairs is not None:
            r.problem(node, where, "empty condition")
        return None
    known = [p for p in pairs if p.key in CONDITIONS]
    beside = [p for p in known if CONDITIONS[p.key].beside]
    if beside and len(known) == 1:
        siblings = tuple(p for p in pairs if p is not beside[0])
        return CONDITIONS[beside[0].key].parse(Entry(beside[0], where, siblings, depth), r)
    for pair in pairs:
        if pair.key not in CONDITIONS:
            r.problem(pair.key_node, where, _unknown(pair.key))
    if len(known) > 1:
        names = ", ".join(p.key for p in known)
        r.problem(
            node,
            where,
            f"one condition per mapping, found {names} "
            "(list them under all: or any:, or as a list under if:)",
        )
    if len(known) != 1 or len(pairs) != 1:
        return None
    return CONDITIONS[known[0].key].parse(Entry(known[0], where, (), depth), r)
