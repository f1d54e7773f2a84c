"""Showing text from mail and from rules files inside messages and ``why`` explanations.

An explanation ends up in the audit log, a terminal and a web page, so any
value quoted in it is shortened, and characters that cannot be printed or
stored (line breaks, control characters, the lone surrogates that stand for
undecodable bytes) are written as escapes instead.
"""

from __future__ import annotations

from collections.abc import Sequence

SHOWN = 60


def printable(text: str) -> str:
    """``text`` with every unprintable character written as a backslash escape."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def quote(text: str, limit: int = SHOWN) -> str:
    """``'text'``, cut to ``limit`` characters (with an ellipsis) and printable."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"'{printable(cut)}'"


def listing(items: Sequence[str], limit: int = 3) -> str:
    """``a, b, c and 4 more``: a few items of a possibly long list."""
    shown = ", ".join(printable(i[:SHOWN]) for i in items[:limit])
    rest = len(items) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown
