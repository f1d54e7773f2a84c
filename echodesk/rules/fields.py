"""Conditions on the message's text: addresses, subject, body and headers.

Every comparison ignores case (both sides are case-folded). A field takes one
operator or several (all must hold); a bare value means ``contains``:

* ``is`` - equal, ignoring surrounding space;  ``in`` - equal to one of a list;
* ``contains`` / ``starts_with`` - a piece of text;
* ``matches`` - an RE2 regular expression, searched anywhere (linear time);
* ``domain`` (addresses only) - the address's domain or a subdomain of it.

An address field holds if *any* of the message's addresses in it does.
``is``, ``in``, ``starts_with`` and ``domain`` look at the address itself;
``contains`` and ``matches`` also at the display name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from echodesk.mailbox.message import Address
from echodesk.rules.base import MAX_BODY, Condition, Entry, Result, View, verdict
from echodesk.rules.facts import HEADER_NAME
from echodesk.rules.logic import AllOf
from echodesk.rules.nodes import NULL, Reader, Where, describe
from echodesk.rules.regex import Pattern, PatternError, compile_pattern
from echodesk.rules.text import listing, printable, quote

TEXT_OPERATORS = ("is", "contains", "starts_with", "matches", "in")
ADDRESS_OPERATORS = (*TEXT_OPERATORS, "domain")
_DOMAIN = re.compile(r"[^\s@.]+(\.[^\s@.]+)*")


@dataclass(frozen=True)
class TextTest:
    """One operator with its value, normalised for comparison (needles are case-folded)."""

    op: str
    shown: str
    needle: str = ""
    choices: tuple[str, ...] = ()
    pattern: Pattern | None = None

    def hit(self, value: str, view: View) -> bool:
        if self.pattern is not None:
            return self.pattern.search(view.utf8(value)) is not None
        folded = view.fold(value)
        if self.op == "contains":
            return self.needle in folded
        if self.op == "starts_with":
            return folded.lstrip().startswith(self.needle)
        if self.op == "domain":
            return any(folded == d or folded.endswith("." + d) for d in self.choices)
        if self.op == "in":
            return folded.strip() in self.choices
        return folded.strip() == self.needle


@dataclass(frozen=True)
class TextCondition:
    """``subject``, ``body`` or ``header: NAME`` compared by one operator."""

    field: str  # subject | body | header
    test: TextTest
    header: str = ""

    @property
    def label(self) -> str:
        name = f"header {self.header}" if self.field == "header" else self.field
        return f"{name} {self.test.shown}"

    def check(self, view: View) -> Result:
        if self.field == "header":
            return self._header(view)
        value = view.body if self.field == "body" else view.msg.subject
        if self.test.hit(value, view):
            return verdict(self.label, True)
        return verdict(self.label, False, self._unmatched(value, view))

    def _unmatched(self, value: str, view: View) -> str:
        if not value.strip():
            return f"empty {self.field}"
        if self.field == "subject":
            return quote(value)
        return f"read the first {MAX_BODY} characters" if len(view.msg.text) > MAX_BODY else ""

    def _header(self, view: View) -> Result:
        values = view.msg.headers.get(self.header, ())
        if not values:
            return verdict(self.label, False, f"no {self.header} header")
        for value in values:
            if self.test.hit(value, view):
                return verdict(self.label, True, quote(value))
        return verdict(self.label, False, listing([quote(v) for v in values]))


@dataclass(frozen=True)
class HeaderPresent:
    """``header: NAME`` without an operator: the message has that header at all."""

    header: str

    @property
    def label(self) -> str:
        return f"header {self.header} present"

    def check(self, view: View) -> Result:
        values = view.msg.headers.get(self.header, ())
        return verdict(self.label, bool(values), quote(values[0]) if values else "")


@dataclass(frozen=True)
class AddressCondition:
    """``from``, ``to`` or ``cc``: holds if any of the message's addresses there does."""

    field: str  # from | to | cc
    test: TextTest

    @property
    def label(self) -> str:
        return f"{self.field} {self.test.shown}"

    def check(self, view: View) -> Result:
        addresses = _addresses(view, self.field)
        if not addresses:
            plural = "address" if self.field == "from" else "addresses"
            return verdict(self.label, False, f"no {self.field.title()} {plural}")
        for address in addresses:
            for candidate in self._candidates(address):
                if self.test.hit(candidate, view):
                    shown = printable(address.key) if address.key else quote(address.name)
                    return verdict(self.label, True, shown)
        return verdict(self.label, False, listing([a.key or a.name for a in addresses]))

    def _candidates(self, address: Address) -> tuple[str, ...]:
        if self.test.op == "domain":
            return (address.domain,)
        if self.test.op in ("contains", "matches"):
            return (address.key, address.name)
        return (address.key,)


def _addresses(view: View, field: str) -> tuple[Address, ...]:
    if field == "from":
        return (view.msg.from_,) if view.msg.from_ is not None else ()
    return view.msg.to if field == "to" else view.msg.cc


# --- reading the operators ------------------------------------------------------------


def _needle(op: str, node: Node, r: Reader, where: Where) -> TextTest | None:
    text = r.text(node, where)
    if text is None:
        return None
    if op == "is":
        return TextTest(op, f"is {quote(text)}", needle=text.strip().casefold())
    if not text.strip():
        r.problem(node, where, "empty text (it would match everything)")
        return None
    if op == "contains":
        return TextTest(op, f"contains {quote(text)}", needle=text.casefold())
    return TextTest(op, f"starts with {quote(text)}", needle=text.casefold().lstrip())


def _matches(op: str, node: Node, r: Reader, where: Where) -> TextTest | None:
    source = r.text(node, where, "a regular expression")
    if source is None:
        return None
    try:
        pattern = compile_pattern(source)
    except PatternError as exc:
        r.problem(node, where, str(exc))
        return None
    return TextTest(op, f"matches /{printable(source)}/", pattern=pattern)


def _in(op: str, node: Node, r: Reader, where: Where) -> TextTest | None:
    if not isinstance(node, SequenceNode):
        r.problem(node, where, f"expected a list of values, got {describe(node)}")
        return None
    found = r.texts(node, where, "a list of values")
    if found is None:
        return None
    values = [text for _, text in found]
    choices = tuple(v.strip().casefold() for v in values)
    return TextTest(op, f"in [{listing(values, 5)}]", choices=choices)


def _domain(op: str, node: Node, r: Reader, where: Where) -> TextTest | None:
    found = r.texts(node, where, "a domain or a list of domains")
    if found is None:
        return None
    domains = []
    for item, text in found:
        domain = text.strip().lower().lstrip("@.")
        if not _DOMAIN.fullmatch(domain):
            r.problem(item, where, f"not a domain: {quote(text)}")
            return None
        domains.append(domain)
    return TextTest(op, f"domain {' or '.join(domains)}", choices=tuple(domains))


_BUILDERS: dict[str, Callable[[str, Node, Reader, Where], TextTest | None]] = {
    "is": _needle,
    "contains": _needle,
    "starts_with": _needle,
    "matches": _matches,
    "in": _in,
    "domain": _domain,
}


def _test(
    op: str, op_node: Node, value: Node, r: Reader, where: Where, operators: tuple[str, ...]
) -> TextTest | None:
    if op not in operators:
        known = ", ".join(operators)
        if op == "domain":
            r.problem(
                op_node, where, f"operator 'domain' works on from, to and cc only (use {known})"
            )
        else:
            r.problem(op_node, where, f"unknown operator '{op}' (use {known})")
        return None
    return _BUILDERS[op](op, value, r, where)


def _tests(entry: Entry, r: Reader, operators: tuple[str, ...]) -> list[TextTest] | None:
    """A bare value (``contains``) or a mapping of operators, each read into a test."""
    node, where = entry.pair.value, entry.where
    if isinstance(node, ScalarNode) and node.tag != NULL:
        test = _test("contains", node, node, r, where, operators)
        return None if test is None else [test]
    if not isinstance(node, MappingNode) or not node.value:
        r.problem(
            node, where, f"expected text or {{OPERATOR: VALUE}} (operators: {', '.join(operators)})"
        )
        return None
    pairs = r.mapping(node, where, "operators")
    if pairs is None:
        return None
    tests = [_test(p.key, p.key_node, p.value, r, where.child(p.key), operators) for p in pairs]
    found = [t for t in tests if t is not None]
    return found if len(found) == len(node.value) else None


def _together(conditions: list[Condition]) -> Condition:
    return conditions[0] if len(conditions) == 1 else AllOf(tuple(conditions))


def parse_address(entry: Entry, r: Reader) -> Condition | None:
    tests = _tests(entry, r, ADDRESS_OPERATORS)
    if tests is None:
        return None
    return _together([AddressCondition(entry.pair.key, t) for t in tests])


def parse_text(entry: Entry, r: Reader) -> Condition | None:
    tests = _tests(entry, r, TEXT_OPERATORS)
    if tests is None:
        return None
    return _together([TextCondition(entry.pair.key, t) for t in tests])


def parse_header(entry: Entry, r: Reader) -> Condition | None:
    """``header: NAME`` with its operators beside it in the same mapping (none: present)."""
    name = r.text(entry.pair.value, entry.where, "a header name")
    if name is not None and not HEADER_NAME.fullmatch(name):
        r.problem(entry.pair.value, entry.where, f"not a header name: {quote(name)}")
        name = None
    tests = [
        _test(p.key, p.key_node, p.value, r, entry.parent.child(p.key), TEXT_OPERATORS)
        for p in entry.siblings
    ]
    found = [t for t in tests if t is not None]
    if name is None or len(found) != len(tests):
        return None
    if not found:
        return HeaderPresent(name.lower())
    return _together([TextCondition("header", t, header=name.lower()) for t in found])
