"""Regular expressions for ``matches``, run by RE2 so they finish in linear time.

Mail is hostile input and rules files are written by people: with a
backtracking engine one careless pattern such as ``(a+)+$`` and one crafted
subject stall the pipeline for hours. RE2 guarantees time linear in the text,
at the price of features that need backtracking (backreferences, lookahead
and lookbehind), which are refused when the rules are loaded, not at runtime.

Patterns are compiled on UTF-8 bytes and matched against UTF-8 bytes the
caller encodes once per text; matching is case-insensitive, like every other
text comparison in the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

from echodesk.errors import RuleError
from echodesk.rules.text import quote

MAX_PATTERN = 2000
_NO_BACKREFS = " (re2 has no backreferences)"
_NO_LOOKAROUND = " (re2 has no lookahead or lookbehind)"


class PatternError(RuleError):
    """A pattern RE2 cannot compile; the message names the pattern and the reason."""


@dataclass(frozen=True, eq=False)
class Pattern:
    """One compiled pattern; ``source`` is the text as the rules file wrote it."""

    source: str
    regexp: Any = field(repr=False)

    def search(self, data: bytes) -> str | None:
        """The first match in ``data`` (decoded for display), or None."""
        found = self.regexp.search(data)
        if found is None:
            return None
        return bytes(found.group(0)).decode("utf-8", "replace")


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error comes back to us; RE2 must not print it
    options.never_capture = True  # only "does it match" is asked: less memory, faster
    return options


def _hint(reason: str, source: str) -> str:
    """Name the missing feature when RE2 refuses a pattern Python's ``re`` would take."""
    operator = reason.removeprefix("invalid perl operator: (?")
    if reason.startswith("invalid escape sequence: \\") and reason[-1:].isdigit():
        return _NO_BACKREFS
    if operator == "P" and "(?P=" in source:
        return _NO_BACKREFS
    if operator in ("=", "!", "<=", "<!"):
        return _NO_LOOKAROUND
    return ""


def compile_pattern(source: str) -> Pattern:
    """Compile ``source`` for case-insensitive search; PatternError says why it cannot be."""
    if len(source) > MAX_PATTERN:
        raise PatternError(f"regular expression longer than {MAX_PATTERN} characters")
    try:
        encoded = source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PatternError(f"bad regular expression {quote(source)}: not valid text") from exc
    try:
        regexp = re2.compile(encoded, _options())
    except re2.error as exc:
        raw = exc.args[0] if exc.args else "cannot compile"
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise PatternError(
            f"bad regular expression {quote(source, MAX_PATTERN)}: {reason}{_hint(reason, source)}"
        ) from exc
    return Pattern(source=source, regexp=regexp)
