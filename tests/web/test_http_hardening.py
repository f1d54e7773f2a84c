"""What a stranger can send the running archive: numbers, nesting, wrong methods, replays.

Each test talks to a real ``echodesk web`` over HTTP, on SQLite and on
PostgreSQL. Nothing a client sends may end in a 500: a number no database
can hold is a page that does not exist (404), a body nested 100,000 deep is a
bad request (400), and a script or webhook sender always reads a JSON
``{"error": ...}``, never an HTML page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.desk import Desk
from tests.web.webproc import API, HOOK, SNAP, WebServer

HUGE = "99999999999999999999"  # beyond 64 bits
API_AUTH = {"Authorization": f"Bearer {API}"}


@pytest.fixture
def server(team: Desk, tmp_path: Path) -> Iterator[WebServer]:
    web = WebServer(tmp_path, team.settings.database_url, ECHODESK_MAX_MESSAGE_SIZE="100000")
    web.start()
    try:
        yield web
    finally:
        web.stop()
    assert not web.errors_logged(), web.errors_logged()[-3000:]


def _snapshot(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deploy_id": "web-2026.12.01-3",
        "surface_id": "checkout",
        "title": "Checkout error rate 4%",
        "severity": "degraded",
        "snapshot": {"events": [{"at": "2026-12-01T10:00:00Z", "action": "deploy.finished"}]},
    }
    body.update(changes)
    return body


def test_numbers_beyond_any_id_are_not_found(team: Desk, server: WebServer) -> None:
    agent = server.client()
    agent.sign_in(team.db, "bob@desk.test")
    for path in (
        f"/ticket/{HUGE}",
        f"/ticket/{HUGE}/message/1.html",
        f"/ticket/1/message/{HUGE}.html",
        f"/attachment/{HUGE}",
        f"/customer/{HUGE}",
    ):
        assert agent.get(path).status == 404, path
    assert agent.get(f"/?page={HUGE}").status == 200  # no such page: the list's first
    script = server.client()
    for path in (f"/api/tickets/TKT-{HUGE}", f"/api/tickets/{HUGE}", "/api/tickets/TKT-0"):
        answer = script.get(path, API_AUTH)
        assert answer.status == 404 and answer.json()["error"], path
    for query in (f"page={HUGE}", f"per_page={HUGE}", "page=0", "page=-1", "page=1.5", "page=x"):
        answer = script.get(f"/api/tickets?{query}", API_AUTH)
        assert answer.status == 400, query
        assert "whole number" in answer.json()["error"]
    assert script.get("/api/tickets?page=2&per_page=1000", API_AUTH).json()["per_page"] == 500


def test_json_nested_too_deep_is_a_400_on_every_machine_endpoint(server: WebServer) -> None:
    sender = server.client()
    deep = b"[" * 100_000 + b"]" * 100_000
    for path, token in (("/inbound", HOOK), ("/bounce", HOOK), ("/from-snapshot", SNAP)):
        answer = sender.post_json(path, deep, token)
        assert answer.status == 400, (path, answer.status, answer.text[:200])
        assert "nested deeper than 64" in answer.json()["error"]
        inside = b'{"Email": "a@b.test", "x": ' + deep + b"}"
        assert sender.post_json(path, inside, token).status == 400


def test_sixty_four_levels_are_accepted_and_brackets_in_text_do_not_count(
    server: WebServer,
) -> None:
    sender = server.client()
    at_limit = _snapshot(snapshot=json.loads("[" * 63 + "]" * 63))  # 64 with the body itself
    answer = sender.post_json("/from-snapshot", json.dumps(at_limit), SNAP)
    assert answer.status == 201, answer.text[:300]
    over = json.dumps(_snapshot(snapshot=json.loads("[" * 64 + "]" * 64)))
    refused = sender.post_json("/from-snapshot", over, SNAP)
    assert refused.status == 400 and "nested" in refused.json()["error"]
    in_text = _snapshot(title="[[[[ {{{{ " * 50, snapshot={"log": "[" * 10_000})
    assert sender.post_json("/from-snapshot", json.dumps(in_text), SNAP).status in (200, 201)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"Email": "a@b.test", "Details": "\\ud800"}', "surrogate"),
        ('{"Email": "a@b.test\\u0000"}', "NUL"),
        ('{"Email": "a@b.test", "ID": NaN}', "NaN"),
        ('{"Email": "a@b.test", "TypeCode": 1e999}', "too large"),
        ('{"Email": "a@b.test", "ID": ' + "9" * 5000 + "}", "malformed"),
        (b'{"Email": "a@b.test\xff"}', "UTF-8"),
    ],
)
def test_json_the_database_cannot_store_is_a_400(
    server: WebServer, body: str | bytes, why: str
) -> None:
    answer = server.client().post_json("/bounce", body, HOOK)
    assert answer.status == 400, answer.text[:300]
    assert why in answer.json()["error"]


def test_every_error_of_the_api_and_the_machine_endpoints_is_json(server: WebServer) -> None:
    client = server.client()
    wrong_method = client.get("/inbound")
    assert wrong_method.status == 405 and "POST" in wrong_method.headers["allow"]
    assert wrong_method.json()["error"]
    for method, path, status in (
        ("GET", "/api/nowhere", 404),
        ("GET", "/api", 404),
        ("DELETE", "/api/tickets", 405),
        ("POST", "/api/tickets/TKT-0001", 405),
        ("PUT", "/from-snapshot", 405),
        ("GET", "/api/tickets", 401),
    ):
        answer = client.request(method, path)
        assert answer.status == status, (method, path, answer.status)
        assert answer.json()["error"], (method, path)
    bad = client.get("/api/tickets?status=nonsense", API_AUTH)
    assert bad.status == 400 and "status must be one of" in bad.json()["error"]
    # A body without a length, larger than the app takes at all: the server's own 413.
    chunks = (b"x" * 65_536 for _ in range(64))
    too_big = client.request(
        "POST",
        "/bounce",
        chunks,
        {"Content-Type": "application/json", "Authorization": f"Bearer {HOOK}"},
    )
    assert too_big.status == 413 and too_big.json()["error"]


def test_the_archive_still_answers_people_with_pages(team: Desk, server: WebServer) -> None:
    agent = server.client()
    agent.sign_in(team.db, "bob@desk.test")
    missing = agent.get("/ticket/42")
    assert missing.status == 404 and missing.headers["content-type"].startswith("text/html")
    assert "There is nothing here" in missing.text


def test_an_idempotency_key_sent_again_with_another_body_is_refused(server: WebServer) -> None:
    ops = server.client()
    key = {"Idempotency-Key": "deploy-3-checkout"}
    first = ops.post_json("/from-snapshot", json.dumps(_snapshot()), SNAP, **key)
    assert first.status == 201 and first.json()["ticket"] == "TKT-0001"
    # The same request again, as a retry sends it (other spacing, other key order): a replay.
    retry_body = json.dumps(dict(reversed(list(_snapshot().items()))), indent=4)
    retry = ops.post_json("/from-snapshot", retry_body, SNAP, **key)
    assert retry.status == 200 and retry.json()["replayed"] is True
    other = _snapshot(title="Checkout is down", severity="critical")
    conflict = ops.post_json("/from-snapshot", json.dumps(other), SNAP, **key)
    assert conflict.status == 422
    assert "Idempotency-Key" in conflict.json()["error"]
    ticket = ops.get("/api/tickets/TKT-0001", API_AUTH).json()
    assert len(ticket["messages"]) == 1  # nothing was added for the refused request
    assert "Checkout is down" not in json.dumps(ticket)
    assert ops.get("/api/tickets", API_AUTH).json()["total"] == 1
    fresh = ops.post_json("/from-snapshot", json.dumps(other), SNAP, **{"Idempotency-Key": "k2"})
    assert fresh.status == 200 and fresh.json()["replayed"] is False
