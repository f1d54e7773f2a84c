"""What each process counts as it works, for ``/metrics``: the figures no table holds.

The database gives the rest (queues, connectors, messages received: see
``web/monitor.py``). These are counted where the work happens: the SMTP
receiver's answers, each batch the worker commits, each delivery attempt,
each search. They live in :data:`REGISTRY`, not prometheus_client's global
one; with several processes on a machine they are pooled through
:mod:`echodesk.metricsdir` and summed at each scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SMTP_SESSIONS = Counter(
    "echodesk_smtp_sessions",
    "SMTP transactions by how Echo answered: accepted (250 after the commit), "
    "refused (a recipient it does not serve) or deferred (4xx: the client retries)",
    ["result"],
    registry=REGISTRY,
)
PROCESSED = Counter(
    "echodesk_messages_processed",
    "Spool rows the worker finished, by outcome (processed, duplicate, quarantined, failed)",
    ["outcome"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "echodesk_processing_seconds",
    "Seconds to parse, decide and commit one batch of spool rows",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
DELIVERY_ATTEMPTS = Counter(
    "echodesk_delivery_attempts",
    "Outgoing messages handed to the relay, by result (sent, deferred, rejected, "
    "exhausted, suppress)",
    ["result"],
    registry=REGISTRY,
)
SEARCH_SECONDS = Histogram(
    "echodesk_search_seconds",
    "Seconds one search of the archive took",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

__all__ = [
    "DELIVERY_ATTEMPTS",
    "PROCESSED",
    "PROCESSING_SECONDS",
    "REGISTRY",
    "SEARCH_SECONDS",
    "SMTP_SESSIONS",
]
