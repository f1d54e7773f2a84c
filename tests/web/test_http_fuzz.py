"""Property tests: whatever JSON, path or query a client sends, no 500, and machines get JSON.

Hypothesis writes the inputs an attacker would try: any JSON (nested far too
deep, integers of hundreds of digits, NaN, text with NUL or unpaired
surrogates, the endpoints' own field names with the wrong kinds of values)
to the machine endpoints, and any number or near-number in the archive's
paths and query strings. Through Flask's test client (thousands of requests);
the attacks themselves go over real HTTP in test_http_hardening.py. On both
databases: PostgreSQL refuses some text that SQLite stores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

HOOK, SNAP, API = "hook-secret", "snap-secret", "api-secret"
EXAMPLES = int(os.environ.get("ECHODESK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Field names the endpoints read, so generated bodies get past "not an object" often.
FIELDS = [
    "From",
    "FromName",
    "FromFull",
    "To",
    "ToFull",
    "Cc",
    "CcFull",
    "Subject",
    "MessageID",
    "Date",
    "TextBody",
    "HtmlBody",
    "Headers",
    "Attachments",
    "RawEmail",
    "Name",
    "Value",
    "Content",
    "ContentType",
    "ContentLength",
    "Email",
    "RecordType",
    "ID",
    "Type",
    "TypeCode",
    "Details",
    "Description",
    "BouncedAt",
    "deploy_id",
    "surface_id",
    "title",
    "severity",
    "requested_by",
    "snapshot",
]

odd_text = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["", " ", "\x00", "\ud800", "a@b.test", "support@desk.test", "TKT-0001", "\u202e@x"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | odd_text
)
deep = st.integers(1, 200).map(lambda n: json.loads("[" * n + "]" * n))
values = st.recursive(
    scalars | deep,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | odd_text, inner, max_size=5)
    ),
    max_leaves=12,
)
#: A body each endpoint accepts, for the fuzzing to change a few fields of.
VALID: dict[str, dict[str, Any]] = {
    "/inbound": {
        "From": "alice@customer.test",
        "To": "support@desk.test",
        "Subject": "Printer on fire",
        "TextBody": "Hello.",
        "MessageID": "m-1",
    },
    "/bounce": {"RecordType": "Bounce", "Email": "alice@customer.test", "ID": 1, "Details": "550"},
    "/from-snapshot": {
        "deploy_id": "d-1",
        "surface_id": "checkout",
        "title": "Errors",
        "severity": "high",
        "snapshot": {"rows": [1, 2]},
    },
}


def json_text(value: Any, depth: int, cut: int | None) -> bytes:
    """``value`` as JSON inside ``depth`` arrays, cut short after ``cut`` characters."""
    text = "[" * depth + json.dumps(value) + "]" * depth
    return text[:cut].encode("utf-8", "surrogatepass")


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.reconfigure(webhook_token=HOOK, snapshot_token=SNAP, api_token=API, flood_limit=0)
    team.deliver(make_mail(message_id="fuzz1@customer.test", subject="A ticket to find"))
    return team


@pytest.fixture
def client(desk: Desk) -> Iterator[FlaskClient]:
    yield desk_app(desk).test_client()


def _is_json_error(answer: Any) -> bool:
    data = answer.get_json(silent=True)
    return answer.mimetype == "application/json" and isinstance(data, dict) and "error" in data


@FUZZ
@given(
    path=st.sampled_from(sorted(VALID)),
    changes=st.dictionaries(st.sampled_from(FIELDS), values, max_size=3),
    whole=st.none() | st.none() | st.none() | values,
    depth=st.sampled_from([0] * 8 + [1, 63, 64, 65, 1000, 100_000]),
    cut=st.none() | st.none() | st.integers(0, 300),
    key=st.none() | st.sampled_from(["k1", "k2"]),
)
def test_any_json_body_gets_an_answer_and_never_a_500(
    desk: Desk,
    client: FlaskClient,
    path: str,
    changes: dict[str, Any],
    whole: Any,
    depth: int,
    cut: int | None,
    key: str | None,
) -> None:
    """A valid body with fields changed, or any JSON at all; sometimes nested deep or cut
    short. What is accepted, the worker then processes without a failure."""
    body = json_text({**VALID[path], **changes} if whole is None else whole, depth, cut)
    headers = {"Authorization": f"Bearer {SNAP if path == '/from-snapshot' else HOOK}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    answer = client.post(path, data=body, headers=headers, content_type="application/json")
    assert answer.status_code in (200, 201, 400, 413, 422), answer.get_data(as_text=True)[:300]
    if answer.status_code >= 400:
        assert _is_json_error(answer), answer.get_data(as_text=True)[:300]
        return
    assert answer.mimetype == "application/json"
    stuck = [o for o in desk.run_worker_until_idle() if o.state in ("failed", "pending")]
    assert not stuck, stuck


numbers = (
    st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.sampled_from(["0", "1", "00001", "9223372036854775807", "9223372036854775808"])
    | st.text("0123456789-+._ eE٣", min_size=1, max_size=25)
)
PAGES = [
    "/ticket/{n}",
    "/ticket/{n}/message/{n}.html",
    "/ticket/1/message/{n}.html",
    "/attachment/{n}",
    "/customer/{n}",
    "/?page={n}",
    "/?q={n}",
    "/?q=TKT-{n}",
    "/?assignee={n}&tag={n}&status={n}",
]
API_PATHS = [
    "/api/tickets/TKT-{n}",
    "/api/tickets/{n}",
    "/api/tickets?page={n}",
    "/api/tickets?per_page={n}&page={n}",
    "/api/tickets?status={n}&tag={n}",
    "/api/{n}",
]


@FUZZ
@given(template=st.sampled_from(PAGES + API_PATHS), n=numbers)
def test_any_number_in_a_path_or_query_gets_an_answer_and_never_a_500(
    desk: Desk, client: FlaskClient, template: str, n: str
) -> None:
    if not client.get_cookie("echodesk_session"):
        sign_in(client, desk)
    path = template.format(n=quote(n, safe=""))
    answer = client.get(path, headers={"Authorization": f"Bearer {API}"})
    assert answer.status_code in (200, 400, 404), (path, answer.status_code)
    if path.startswith("/api/") and answer.status_code >= 400:
        assert _is_json_error(answer), (path, answer.get_data(as_text=True)[:300])


@FUZZ
@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]),
    path=st.sampled_from(["/inbound", "/bounce", "/from-snapshot", "/api/tickets", "/api/x"]),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; x"]),
    body=st.binary(max_size=200),
)
def test_any_method_and_content_on_the_machine_endpoints_is_answered_in_json(
    client: FlaskClient, method: str, path: str, content_type: str, body: bytes
) -> None:
    answer = client.open(
        path,
        method=method,
        data=body,
        headers={"Authorization": "Bearer nothing-right", "Content-Type": content_type},
    )
    assert answer.status_code < 500
    if answer.status_code >= 400:
        assert _is_json_error(answer), (method, path, answer.get_data(as_text=True)[:300])
