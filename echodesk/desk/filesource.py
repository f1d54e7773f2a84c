"""A file that configures the desk while it runs, reloaded when it changes.

The routing rules and the saved replies live in files beside the settings,
edited by people while Echo runs. Before using one, a process asks its
source for the current contents: the file is looked at (a ``stat``) at most
once a second, and a changed file (or a SIGHUP) is read again. A file that
does not load never takes the service down: the last good contents stay in
force and the error is logged and kept in :attr:`FileSource.error` (``echodesk
status`` and the check commands show it). No file at all means the empty
contents.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from echodesk.errors import EchoError

log = logging.getLogger(__name__)
CHECK_SECONDS = 1.0

T = TypeVar("T")


class FileSource(Generic[T]):
    """The contents of one file, as ``load`` reads them; ``empty`` when there is no file."""

    def __init__(self, path: Path, load: Callable[[Path], T], empty: T, what: str) -> None:
        self.path = path
        self.what = what
        self._load = load
        self._empty = empty
        self._value: T = empty
        self._stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the loaded file
        self._checked = 0.0
        self._wanted = True
        self._lock = threading.Lock()
        self.error = ""

    def request_reload(self) -> None:
        """Read the file again before the next use (SIGHUP)."""
        self._wanted = True

    def current(self) -> T:
        """The contents in force now (read again first if the file changed)."""
        with self._lock:
            now = time.monotonic()
            if self._wanted or now - self._checked >= CHECK_SECONDS:
                self._checked = now
                self._refresh()
            return self._value

    def _refresh(self) -> None:
        forced, self._wanted = self._wanted, False
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None or self._value is not self._empty:
                log.warning("%s file %s is gone: none apply", self.what, self.path)
            self._value, self._stamp, self.error = self._empty, None, ""
            return
        except OSError as exc:
            self.error = f"cannot read {self.what} file {self.path}: {exc.strerror}"
            log.error("%s; the last good %s stay in force", self.error, self.what)
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp and not forced:
            return
        self._stamp = stamp
        try:
            value = self._load(self.path)
        except EchoError as exc:
            self.error = str(exc)
            log.error(
                "%s file not loaded, the last good %s stay in force:\n%s", self.what, self.what, exc
            )
            return
        self._value, self.error = value, ""
        log.info("%s loaded from %s", self.what, self.path)


__all__ = ["FileSource"]
