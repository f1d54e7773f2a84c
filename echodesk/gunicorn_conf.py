"""gunicorn settings for the web process (Procfile: ``--config python:echodesk.gunicorn_conf``).

gunicorn forks its workers from one master; they pool what they count for
``/metrics`` in one folder chosen by the master before any of them starts
(see :mod:`echodesk.metricsdir`), so a scrape that reaches any worker shows
the whole web process's figures.
"""

from __future__ import annotations

from typing import Any

from echodesk.metricsdir import share_between_processes


def on_starting(server: Any) -> None:
    """In the master, before the first worker is forked."""
    share_between_processes()
