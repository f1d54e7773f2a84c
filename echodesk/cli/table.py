"""Plain-text tables for the listings (tickets, spool, outbox, search, agents).

A listing is read on a terminal: one row per line, each column starting at the
same place. A single long value (a 3,000-character subject, a stack of error
text) would otherwise push everything after it off the screen and break the
line into many, so every column has a most width and a longer value is cut
with an ellipsis. Line breaks and tabs inside a value become spaces, and wide
(East Asian) characters count as two cells, so the columns still line up.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class Column:
    """One column: the most terminal cells it takes, and which side it keeps to."""

    most: int
    right: bool = False


def cells(text: str) -> int:
    """The terminal cells ``text`` takes (wide characters two, combining marks none)."""
    return sum(_char_cells(ch) for ch in text)


def _char_cells(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cf", "Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def one_line(value: object) -> str:
    """A value as a single line: None is '-', runs of whitespace are one space."""
    if value is None:
        return "-"
    return " ".join(str(value).split())


def cut(text: str, most: int) -> str:
    """``text`` within ``most`` cells, ending in an ellipsis when something was cut."""
    if cells(text) <= most:
        return text
    kept, used = [], 0
    for ch in text:
        width = _char_cells(ch)
        if used + width > most - 1:
            break
        kept.append(ch)
        used += width
    return "".join(kept).rstrip() + ELLIPSIS


def render(
    rows: Sequence[Sequence[object]], columns: Sequence[Column], gap: str = "  "
) -> list[str]:
    """The rows as aligned lines: each column as wide as its widest value, at most ``most``.

    The last column is not padded, so no line ends in spaces.
    """
    texts = [
        [cut(one_line(value), col.most) for value, col in zip(row, columns, strict=True)]
        for row in rows
    ]
    widths = [max((cells(r[i]) for r in texts), default=0) for i in range(len(columns))]
    lines = []
    for row in texts:
        parts = []
        for i, (text, col) in enumerate(zip(row, columns, strict=True)):
            pad = " " * (widths[i] - cells(text))
            last = i == len(columns) - 1
            parts.append(pad + text if col.right else (text if last else text + pad))
        lines.append(gap.join(parts).rstrip())
    return lines
