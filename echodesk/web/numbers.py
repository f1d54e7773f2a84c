"""Numbers from URLs: only what the database can hold reaches a query.

Ids and ticket numbers are 64-bit in both databases. A larger number in a
path (``/ticket/99999999999999999999``) made the SQLite driver raise
OverflowError and PostgreSQL "bigint out of range", a 500 for what is simply
a page that does not exist. So the routes' converter refuses numbers above
:data:`MAX_ID` (Flask answers 404, as for any unknown path), and query
parameters are read as plain ASCII digits within a stated range.
"""

from __future__ import annotations

import re

#: The largest id or ticket number either database stores (signed 64-bit).
MAX_ID = 2**63 - 1
#: The URL converter of an id: ``/ticket/<{ID}:number>``.
ID = f"int(max={MAX_ID})"

_DIGITS = re.compile(r"[0-9]{1,19}")


def whole_number(text: str | None, low: int, high: int) -> int | None:
    """``text`` as a number from ``low`` to ``high``; None if it is anything else."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None
