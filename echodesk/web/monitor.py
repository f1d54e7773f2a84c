"""Endpoints for the platform and for Prometheus: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` says the process answers (a platform's liveness check).
``/readyz`` says whether it can serve: the database reachable with its
migrations current, and the blob store reachable (503 otherwise, naming
what is wrong, nothing more). ``/metrics`` is Prometheus's text format,
read from the database at each scrape (:mod:`echodesk.store.health`), so
every process of every machine gives the same figures; it answers only to
``metrics_token`` as a Bearer token, and not at all when none is set, so it
is never open by accident. Signed-in operators see the same health on the
Health page, and the incidents the alert job opened as a badge in every
page's header.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, g, jsonify, render_template, request
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from echodesk import metrics
from echodesk.store import alerts
from echodesk.store.health import Snapshot, snapshot_for

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

#: The text format's media type that every Prometheus since 2.0 reads.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
#: Endpoints that answer without signing in (they check their own token, or tell nothing).
PUBLIC = frozenset({"healthz", "readyz", "metrics"})


class _HealthCollector(Collector):
    """Prometheus metrics from a health snapshot of the database, read at each scrape."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        found = self.read()
        up = GaugeMetricFamily("echodesk_up", "1 when the part is reachable", labels=["part"])
        up.add_metric(["database"], float(found.database == "ok"))
        up.add_metric(["migrations"], float(found.migrations == "current"))
        up.add_metric(["blobs"], float(found.blobs == "ok"))
        yield up
        for name, queue, waiting in (
            ("spool", found.spool, "pending"),
            ("outbox", found.outbox, "queued"),
        ):
            rows = GaugeMetricFamily(
                f"echodesk_{name}_rows", f"Rows of the {name} by state", labels=["state"]
            )
            for state, count in sorted(queue.counts.items()):
                rows.add_metric([state], float(count))
            yield rows
            age = GaugeMetricFamily(
                f"echodesk_{name}_oldest_{waiting}_seconds",
                f"How long the oldest {waiting} row of the {name} has waited (0: none)",
            )
            age.add_metric([], float(queue.oldest_waiting_seconds or 0.0))
            yield age
        success = GaugeMetricFamily(
            "echodesk_connector_last_success_timestamp_seconds",
            "When each mailbox or relay last worked (Unix time; 0: never)",
            labels=["connector"],
        )
        failures = GaugeMetricFamily(
            "echodesk_connector_consecutive_failures",
            "Failures of each mailbox or relay since it last worked",
            labels=["connector"],
        )
        for c in found.connectors:
            at = c.last_success_at.timestamp() if c.last_success_at is not None else 0.0
            success.add_metric([c.name], at)
            failures.add_metric([c.name], float(c.consecutive_failures))
        yield success
        yield failures
        received = CounterMetricFamily(
            "echodesk_messages_received",
            "Messages received, by how they came (as long as the spool keeps their rows)",
            labels=["source"],
        )
        for source, count in sorted(found.received.items()):
            received.add_metric([source], float(count))
        yield received
        problems = GaugeMetricFamily("echodesk_problems", "Things that need a person")
        problems.add_metric([], float(len(found.problems)))
        yield problems


class _ThisProcess(Collector):
    """What this process counted itself (:mod:`echodesk.metrics`), when it counts in memory."""

    def collect(self) -> Iterator[Metric]:
        yield from metrics.REGISTRY.collect()


def registry_for(read: Callable[[], Snapshot]) -> CollectorRegistry:
    """Everything ``/metrics`` shows: the database's figures and what the processes counted.

    Processes that pool their counts in files (``metricsdir``) are summed
    from there, every process of this machine alike; a process counting in
    memory shows its own.
    """
    registry = CollectorRegistry()
    registry.register(_HealthCollector(read))
    if values.ValueClass is values.MutexValue:
        registry.register(_ThisProcess())
    else:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_answer(token: str, registry: CollectorRegistry) -> Response:
    """The scrape's answer: the figures to a good Bearer token, else 401."""
    if token and not _bearer_matches(token):
        answer = Response("send the metrics token as a Bearer token\n", mimetype="text/plain")
        answer.headers["WWW-Authenticate"] = "Bearer"
        answer.status_code = 401
        return answer
    return Response(generate_latest(registry), content_type=TEXT_FORMAT)


def metrics_app(read: Callable[[], Snapshot], token: str) -> Flask:
    """``/metrics`` alone, for its own listen address (setting ``metrics_listen``).

    There the address is what keeps it private; ``metrics_token``, when set,
    is asked for as well.
    """
    app = Flask("echodesk-metrics")
    registry = registry_for(read)

    @app.get("/metrics")
    def scrape() -> Response:
        return metrics_answer(token, registry)

    return app


def _bearer_matches(token: str) -> bool:
    sent = request.headers.get("Authorization", "")
    if not token or not sent.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(sent[7:].strip().encode(), token.encode())


def _snapshot(web: WebContext) -> Snapshot:
    return snapshot_for(web.settings, web.db, web.blobs)


def register(bp: Blueprint, web: WebContext) -> None:
    """The machine endpoints above, the Health page, and the header's incident badge."""

    @bp.context_processor
    def open_incidents() -> dict[str, Any]:
        """Open incidents for the header: one cheap query, and only for a signed-in viewer."""
        if getattr(g, "viewer", None) is None:
            return {"incidents": {}}
        try:
            with web.db.reading() as session:
                return {"incidents": alerts.open_incidents(session)}
        except SQLAlchemyError:
            return {"incidents": {"database": "the database cannot be read"}}

    @bp.get("/health")
    def health() -> str:
        return render_template("health.html", found=_snapshot(web))

    @bp.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        found = _snapshot(web)
        parts = {"database": found.database, "migrations": found.migrations, "blobs": found.blobs}
        return jsonify({"ready": found.ready, **parts}), 200 if found.ready else 503

    registry = registry_for(lambda: _snapshot(web))

    @bp.get("/metrics")
    def metrics() -> Response | tuple[Response, int]:
        if not web.settings.metrics_token:  # never open by accident
            return Response("not found\n", status=404, mimetype="text/plain"), 404
        return metrics_answer(web.settings.metrics_token, registry)
