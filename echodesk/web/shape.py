"""Checking a webhook body against the schema the OpenAPI document publishes.

The document is the contract: a body that breaks it (a list where text belongs, a
number for an address) is refused with a 400 naming the field, before the desk sees
it. Only the parts of JSON Schema the document uses are understood: ``type`` (one or
a list), ``properties``, ``required``, ``items``, ``minLength``, ``pattern`` and
``anyOf``.
"""

from __future__ import annotations

import re
from typing import Any

from echodesk.errors import EchoError

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


class ShapeError(EchoError):
    """The body does not have the shape the document gives it (a 400 for the caller)."""


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


def check(value: Any, schema: dict[str, Any], where: str = "body") -> None:
    """Raise :class:`ShapeError` naming the first place ``value`` breaks ``schema``."""
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in allowed):
            raise ShapeError(f"{where}: expected {' or '.join(allowed)}, got {_name(value)}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise ShapeError(f"{where}: must not be empty")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        wanted = schema.get("description")
        raise ShapeError(f"{where}: expected {wanted}" if wanted else f"{where}: malformed")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise ShapeError(f"{_join(where, key)}: required")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, _join(where, key))
    if "anyOf" in schema:
        problems = []
        for option in schema["anyOf"]:
            try:
                check(value, option, where)
                break
            except ShapeError as exc:
                problems.append(str(exc))
        else:
            raise ShapeError("; or ".join(problems))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(item, schema["items"], f"{where}[{index}]")


def _join(where: str, key: str) -> str:
    return key if where == "body" else f"{where}.{key}"


def _name(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, kind):
            return kind
    return type(value).__name__
