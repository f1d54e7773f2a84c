"""Where the processes of one Echo machine pool their metrics (prometheus_client multiprocess).

``serve`` forks a worker, gunicorn forks web workers: each counts in its own
memory, and a scrape reaches only one of them. prometheus_client's
multiprocess mode has each process write its counters to files in one folder
(``PROMETHEUS_MULTIPROC_DIR``) that ``/metrics`` sums. The folder must be
chosen before prometheus_client is first imported, by the process that
starts the others, so this module imports nothing of it. The folder holds
only counts since the processes started (a restart begins at zero, as
Prometheus expects of counters): nothing in it must outlive the machine.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import MutableMapping

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_between_processes(environ: MutableMapping[str, str] | None = None) -> str:
    """Make sure this process and those it starts count into one folder; which one.

    A folder named by the environment is used as it is (created if missing);
    otherwise a fresh one is made, removed again when this process exits.
    """
    env = os.environ if environ is None else environ
    named = env.get(VARIABLE) or env.get(VARIABLE.lower())
    if named:
        os.makedirs(named, exist_ok=True)
        return named
    made = tempfile.mkdtemp(prefix="echodesk-metrics-")
    env[VARIABLE] = made
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:  # not in a forked child that exits first
            shutil.rmtree(made, ignore_errors=True)

    atexit.register(remove)
    return made


__all__ = ["VARIABLE", "share_between_processes"]
