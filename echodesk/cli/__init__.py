"""The ``echodesk`` command: one click group, its commands in modules by topic.

The modules are imported when their command runs (:class:`~echodesk.cli.app.LazyGroup`).
"""

from echodesk.cli.app import COMMAND_MODULES, main

__all__ = ["COMMAND_MODULES", "main"]
