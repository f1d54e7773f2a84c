"""The documentation covers what the registries hold, and the package's edges hold."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import echodesk.rules
from echodesk.rules import reference
from echodesk.rules.actions import ACTIONS, KINDS
from echodesk.rules.conditions import CONDITIONS
from echodesk.rules.fields import ADDRESS_OPERATORS
from echodesk.rules.measures import COMPARISONS

PACKAGE = Path(echodesk.rules.__file__).parent
DOC = echodesk.rules.__doc__ or ""
#: Besides the message type, only the bottom layers: settings, errors, the statuses' names.
ALLOWED = {
    "yaml",
    "re2",
    "echodesk.mailbox.message",
    "echodesk.config",
    "echodesk.errors",
    "echodesk.statuses",
}


def test_the_grammar_names_every_condition_operator_and_action() -> None:
    for name in [*CONDITIONS, *ACTIONS, "between", "round_robin"]:
        assert f"{name}:" in DOC, name
    for name in ADDRESS_OPERATORS:
        assert f"``{name}``" in DOC, name
    comparisons = re.search(r"comparisons: ([a-z ]+)", DOC)
    assert comparisons and comparisons[1].split() == list(COMPARISONS)


def test_reference_comes_from_the_registries() -> None:
    text = reference()
    entries = [(k.usage, k.description) for k in CONDITIONS.values()]
    entries += [(k.usage, k.description) for k in ACTIONS.values()]
    for usage, description in entries:
        assert f"  {usage}\n      {description}" in text


def test_every_action_kind_can_be_produced() -> None:
    produced = {"assign_round_robin"} | set(ACTIONS)
    assert produced == set(KINDS)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_rules_import_only_the_standard_library_yaml_re2_and_the_message_type() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for module in _imports(path):
            top = module.split(".")[0]
            allowed = (
                module in ALLOWED
                or top in ALLOWED
                or module.startswith("echodesk.rules")
                or top in sys.stdlib_module_names
                or module == "__future__"
            )
            assert allowed, f"{path.name} imports {module}"
