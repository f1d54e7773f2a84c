"""RE2 patterns: case-insensitive search, refused features named, linear time."""

from __future__ import annotations

import time

import pytest

from echodesk.rules.regex import MAX_PATTERN, PatternError, compile_pattern


def test_search_is_case_insensitive_and_unanchored() -> None:
    pattern = compile_pattern(r"inv-\d+")
    assert pattern.search(b"see INV-4711 please") == "INV-4711"
    assert pattern.search(b"no number") is None
    assert compile_pattern("^ärger").search("ÄRGER".encode()) == "ÄRGER"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (r"(a)\1", r"invalid escape sequence: \1 (re2 has no backreferences)"),
        (r"(?P<x>a)(?P=x)", "invalid perl operator: (?P (re2 has no backreferences)"),
        ("a(?=b)", "invalid perl operator: (?= (re2 has no lookahead or lookbehind)"),
        ("a(?!b)", "invalid perl operator: (?! (re2 has no lookahead or lookbehind)"),
        ("(?<=a)b", "invalid perl operator: (?<= (re2 has no lookahead or lookbehind)"),
        ("(?<!a)b", "invalid perl operator: (?<! (re2 has no lookahead or lookbehind)"),
        ("a++", "bad repetition operator: ++"),
        ("(", "missing ): ("),
        ("a{1001}", "invalid repetition size: {1001}"),
    ],
)
def test_refused_patterns(source: str, reason: str) -> None:
    with pytest.raises(PatternError) as caught:
        compile_pattern(source)
    assert str(caught.value) == f"bad regular expression '{source}': {reason}"


def test_overlong_and_undecodable_patterns() -> None:
    with pytest.raises(PatternError, match=f"^regular expression longer than {MAX_PATTERN} "):
        compile_pattern("a" * (MAX_PATTERN + 1))
    with pytest.raises(PatternError) as caught:
        compile_pattern("\udc80")
    assert str(caught.value) == "bad regular expression '\\udc80': not valid text"


@pytest.mark.parametrize("source", [r"(a+)+$", r"(x+x+)+y", r"^(\w+\s?)*$"])
def test_catastrophic_patterns_take_linear_time(source: str) -> None:
    pattern = compile_pattern(source)
    text = ("a" * 100_000 + "!").encode()
    started = time.perf_counter()
    assert pattern.search(text) is None
    assert time.perf_counter() - started < 2.0
