"""Reading a JSON request body that a stranger wrote, without letting it hurt the server.

Python's ``json`` parser recurses once per nested array or object: a body of
100,000 ``[`` ends in a RecursionError deep inside the parser. So the nesting
is measured first, on the raw bytes and without recursion (strings cut out by
one linear regular expression, then a running count over the brackets left),
and a body nested deeper than :data:`MAX_DEPTH` is refused before it is
parsed. What the parser accepts beyond JSON is refused too: ``NaN`` and
``Infinity`` (and numbers too large for a float), unpaired surrogates
(``"\\ud800"``: not text, they cannot be encoded to store) and NUL characters
(PostgreSQL's text cannot hold them; no webhook field has a use for one).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

#: Deeper than any webhook or snapshot needs; far below what would strain the parser.
MAX_DEPTH = 64

# A string, or an unterminated one up to the end (possessive: never backtracks, so one pass).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]++")
_STEP = [1 if b in b"[{" else -1 for b in range(256)]


class BodyError(ValueError):
    """The body is not JSON this server accepts (the message says why)."""


def nesting(body: bytes) -> int:
    """How deeply the JSON text nests arrays and objects (0 for a scalar), without parsing it."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _constant(name: str) -> Any:
    raise BodyError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"{text[:40]} is too large a number")
    return value


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError("text with an unpaired surrogate (\\ud800-\\udfff)") from None
    if "\x00" in value:
        raise BodyError("text with a NUL character (\\u0000)")


def _walk(data: Any) -> None:
    """Check every string (keys too) and the depth, with a stack instead of recursion."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise BodyError(f"nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))


def parse(body: bytes) -> Any:
    """The parsed body, or :class:`BodyError` saying what is wrong with it."""
    if nesting(body) > MAX_DEPTH:
        raise BodyError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("malformed JSON: not UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except ValueError as exc:  # ours, JSONDecodeError, and integers beyond 4300 digits
        raise BodyError(f"malformed JSON: {exc}") from None
    _walk(data)
    return data
