"""The combinators: all, any, not, and the constant ``always``.

Each explains itself from its parts. ``all`` and ``any`` stop at the first
part that decides (the first "no" for all, the first "yes" for any), so an
explanation names exactly the conditions that were looked at. The ``all`` of
a rule's own ``if`` is shown flat (``a: yes; b: no``); a nested one is
bracketed (``all of (a: yes; b: no): no``).
"""

from __future__ import annotations

from dataclasses import dataclass

from echodesk.rules.base import Condition, Result, View, run, verdict


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]
    top: bool = False

    @property
    def label(self) -> str:
        return "all of"

    def check(self, view: View) -> Result:
        whys = []
        for item in self.items:
            result = run(item, view)
            whys.append(result.why)
            if not result.held:
                return self._result(False, whys)
        return self._result(True, whys)

    def _result(self, held: bool, whys: list[str]) -> Result:
        joined = "; ".join(whys)
        if self.top:
            return Result(held, joined)
        return Result(held, f"all of ({joined}): {'yes' if held else 'no'}")


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return "any of"

    def check(self, view: View) -> Result:
        whys = []
        for item in self.items:
            result = run(item, view)
            whys.append(result.why)
            if result.held:
                return Result(True, f"any of ({'; '.join(whys)}): yes")
        return Result(False, f"any of ({'; '.join(whys)}): no")


@dataclass(frozen=True)
class Not:
    item: Condition

    @property
    def label(self) -> str:
        return "not"

    def check(self, view: View) -> Result:
        result = run(self.item, view)
        return Result(not result.held, f"not ({result.why}): {'no' if result.held else 'yes'}")


@dataclass(frozen=True)
class Always:
    """``always: true`` matches every message; ``always: false`` none (a rule switched off)."""

    value: bool

    @property
    def label(self) -> str:
        return "always" if self.value else "always false"

    def check(self, view: View) -> Result:
        return verdict(self.label, self.value)
