"""Reading a composed YAML tree while collecting every problem with its line and column.

The rules are read from PyYAML *nodes* (``yaml.compose``), not from the
constructed Python objects, for three reasons: every node keeps its position,
so each problem can point at ``FILE:LINE:COLUMN``; plain scalars keep the text
as written (``18:00`` is a time, not YAML 1.1's sexagesimal 1080; ``is: 1``
compares against "1"); and duplicate keys, which PyYAML would silently
collapse, can be reported.

A :class:`Reader` never raises on bad input: it records a problem and returns
None, so one pass over a file reports all that is wrong with it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from echodesk.errors import RuleError
from echodesk.rules.text import printable, quote

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
#: Conditions, list items and values read per file at most: anchors and aliases can
#: make a small file stand for an enormous (or endless) tree.
BUDGET = 100_000


class RulesFileError(RuleError):
    """A rules file with problems; ``str()`` lists them one per line.

    Each problem reads ``FILE:LINE:COLUMN: rule 'NAME': KEY: what is wrong``
    (without the rule and key parts when the problem is not inside a rule).
    """

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Where:
    """Which rule, and which key inside it (``if.all[0].from``), a problem is about."""

    rule: str = ""
    key: str = ""

    def child(self, name: str) -> Where:
        return Where(self.rule, f"{self.key}.{name}" if self.key else name)

    def at(self, index: int) -> Where:
        return Where(self.rule, f"{self.key}[{index}]")


@dataclass(frozen=True)
class Pair:
    """One key of a mapping: its text, its node (for the position) and its value."""

    key: str
    key_node: Node
    value: Node


def describe(node: Node) -> str:
    """How a problem names what it found instead: ``a list``, ``'maybe'``, ``nothing``."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "nothing"
    if node.tag in (INT, FLOAT, BOOL):
        return printable(str(node.value))
    return quote(str(node.value))


class Reader:
    """Typed access to nodes, recording a problem (and returning None) for each misfit."""

    def __init__(self, source: str, agents: Collection[str] | None = None) -> None:
        self.source = source
        self.agents = None if agents is None else frozenset(a.strip().lower() for a in agents)
        self.problems: list[str] = []
        self._budget = BUDGET

    def problem(self, node: Node | None, where: Where, text: str) -> None:
        prefix = self.source
        if node is not None:
            mark = node.start_mark
            prefix = f"{prefix}:{mark.line + 1}:{mark.column + 1}"
        parts = [prefix, where.rule, where.key, text]
        self.problems.append(": ".join(p for p in parts if p))

    def spend(self, node: Node, where: Where) -> bool:
        """Count one node against the file's budget; False (and one problem) once it is spent."""
        self._budget -= 1
        if self._budget == 0:
            self.problem(
                node,
                where,
                f"more than {BUDGET} conditions and values (anchors and aliases expand "
                "into copies; write the rules out)",
            )
        return self._budget > 0

    def mapping(self, node: Node, where: Where, expected: str) -> list[Pair] | None:
        """The keys of a mapping in order; problems for non-text and repeated keys."""
        if not isinstance(node, MappingNode):
            self.problem(node, where, f"expected {expected}, got {describe(node)}")
            return None
        pairs: list[Pair] = []
        seen: set[str] = set()
        for key_node, value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == NULL:
                self.problem(key_node, where, f"keys must be text, got {describe(key_node)}")
                continue
            key = str(key_node.value)
            if key in seen:
                self.problem(key_node, where.child(key), "duplicate key")
                continue
            seen.add(key)
            pairs.append(Pair(key, key_node, value))
        return pairs

    def text(self, node: Node, where: Where, expected: str = "text") -> str | None:
        """A scalar as written (``1`` and ``yes`` are text here); not nothing, lists, mappings."""
        if isinstance(node, ScalarNode) and node.tag != NULL:
            return str(node.value)
        self.problem(node, where, f"expected {expected}, got {describe(node)}")
        return None

    def texts(self, node: Node, where: Where, expected: str) -> list[tuple[Node, str]] | None:
        """One text or a non-empty list of texts, each with its node (for its position)."""
        items = [node] if isinstance(node, ScalarNode) and node.tag != NULL else None
        if isinstance(node, SequenceNode):
            items = list(node.value)
            if not items:
                self.problem(node, where, f"expected {expected}, got an empty list")
                return None
        if items is None:
            self.problem(node, where, f"expected {expected}, got {describe(node)}")
            return None
        found: list[tuple[Node, str]] = []
        for index, item in enumerate(items):
            at = where.at(index) if isinstance(node, SequenceNode) else where
            if not self.spend(item, at):
                return None
            value = self.text(item, at, expected)
            if value is not None:
                found.append((item, value))
        return found if len(found) == len(items) else None

    def flag(self, node: Node, where: Where) -> bool | None:
        """``true`` or ``false`` (YAML's yes/no/on/off too), unquoted."""
        if isinstance(node, ScalarNode) and node.tag == BOOL:
            return bool(yaml.constructor.SafeConstructor.bool_values[str(node.value).lower()])
        self.problem(node, where, f"expected true or false, got {describe(node)}")
        return None

    def number(self, node: Node, where: Where) -> float | None:
        """An unquoted int or float."""
        if isinstance(node, ScalarNode) and node.tag in (INT, FLOAT):
            constructed = yaml.constructor.SafeConstructor().construct_object(node)
            if isinstance(constructed, int | float) and constructed == constructed:  # not NaN
                return float(constructed)
        self.problem(node, where, f"expected a number, got {describe(node)}")
        return None
