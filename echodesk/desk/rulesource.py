"""The routing rules in force: read from the rules file, reloaded when it changes.

The worker asks for the current rules before each batch. The file is looked
at (a ``stat``) at most once a second; a changed file, or a SIGHUP, reloads
it. A file that does not parse never takes the service down: the last good
rules stay in force and the error is logged (and shown by ``echodesk rules
check``). No file at all means no rules.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from echodesk.errors import RuleError
from echodesk.rules import EMPTY, RuleSet, load_rules

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0


class RulesSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._rules: RuleSet = EMPTY
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the loaded file
        self._checked = 0.0
        self._wanted = True
        self._lock = threading.Lock()
        self.error = ""

    def request_reload(self) -> None:
        """Reload before the next batch (SIGHUP)."""
        self._wanted = True

    def current(self) -> RuleSet:
        """The rules to apply now (reloading first if the file changed)."""
        with self._lock:
            now = time.monotonic()
            if self._wanted or now - self._checked >= CHECK_SECONDS:
                self._checked = now
                self._refresh()
            return self._rules

    def _refresh(self) -> None:
        forced, self._wanted = self._wanted, False
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None or self._rules is not EMPTY:
                log.warning("rules file %s is gone: no rules apply", self.path)
            self._rules, self._stamp, self.error = EMPTY, None, ""
            return
        except OSError as exc:
            self.error = f"cannot read rules file {self.path}: {exc.strerror}"
            log.error("%s; the last good rules stay in force", self.error)
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp and not forced:
            return
        self._stamp = stamp
        try:
            rules = load_rules(self.path)
        except RuleError as exc:
            self.error = str(exc)
            log.error("rules file not loaded, the last good rules stay in force:\n%s", exc)
            return
        self._rules, self.error = rules, ""
        log.info("rules loaded from %s: %d rule(s)", self.path, len(rules.rules))
