"""The routing rules in force: read from the rules file, reloaded when it changes.

The worker asks for the current rules before each batch (see
:class:`~echodesk.desk.filesource.FileSource` for when the file is read
again, and what happens when it does not load).
"""

from __future__ import annotations

from pathlib import Path

from echodesk.desk.filesource import FileSource
from echodesk.rules import EMPTY, RuleSet, load_rules


class RulesSource(FileSource[RuleSet]):
    def __init__(self, path: Path) -> None:
        super().__init__(path, load_rules, EMPTY, "rules")


__all__ = ["RulesSource"]
