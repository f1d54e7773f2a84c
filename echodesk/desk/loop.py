"""The loop every long-running part of ``serve`` and ``worker`` runs in.

The spool worker and the outbox sender both take a batch, sleep when there
was none, and must live through a database that is away for a while (a
restart, a failover): they log it once per attempt and back off rather than
die, so the process manager does not restart-loop them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sized

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """A one-line error: type and message, no message content."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:1000]


def run_until_stopped(
    step: Callable[[], Sized], stop: Callable[[], bool], idle_sleep: float, who: str
) -> None:
    """Call ``step`` until ``stop()``; sleep when it did nothing, back off when the
    database cannot be reached."""
    while not stop():
        try:
            if not step():
                time.sleep(idle_sleep)
        except SQLAlchemyError as exc:
            log.error("%s cannot reach the database: %s", who, describe(exc))
            time.sleep(min(30.0, idle_sleep * 5))
