"""The webhook endpoints: Postmark inbound mail and bounces, and Investigate snapshots."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from echodesk.store.models import Customer, Outbox, TicketTag
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

TOKEN = "hook-secret"
SNAP = "snap-secret"


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.reconfigure(webhook_token=TOKEN, snapshot_token=SNAP)
    return team


@pytest.fixture
def client(desk: Desk) -> Iterator[FlaskClient]:
    yield desk_app(desk).test_client()


def _basic(password: str) -> dict[str, str]:
    value = base64.b64encode(f"postmark:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def postmark(**changes: Any) -> dict[str, Any]:
    """An inbound payload in the shape Postmark documents."""
    payload: dict[str, Any] = {
        "FromName": "Alice Customer",
        "MessageStream": "inbound",
        "From": "alice@customer.test",
        "FromFull": {"Email": "alice@customer.test", "Name": "Alice Customer", "MailboxHash": ""},
        "To": "support@desk.test",
        "ToFull": [{"Email": "support@desk.test", "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Subject": "Printer on fire",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "Date": "Mon, 2 Nov 2026 09:00:00 +0000",
        "TextBody": "Hello, my printer is on fire.\n",
        "HtmlBody": "<html><body><p>Hello, my printer is <b>on fire</b>.</p></body></html>",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "X-Spam-Score", "Value": "-0.1"},
            {"Name": "Message-ID", "Value": "<m1@customer.test>"},
        ],
        "Attachments": [
            {
                "Name": "photo.txt",
                "Content": base64.b64encode(b"a picture of fire").decode(),
                "ContentType": "text/plain",
                "ContentLength": 17,
            }
        ],
    }
    payload.update(changes)
    return payload


def _post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(
        path, data=json.dumps(body), headers=headers, content_type="application/json"
    )


def test_an_inbound_payload_becomes_a_ticket_as_smtp_mail_would(
    client: FlaskClient, desk: Desk
) -> None:
    answer = _post(client, "/inbound", postmark(), _basic(TOKEN))
    assert answer.status_code == 200 and answer.get_json()["accepted"] is True
    desk.run_worker_until_idle()
    ticket = desk.ticket(1)
    (message,) = ticket["messages"]
    assert (message["message_id"], message["from"], message["subject"]) == (
        "m1@customer.test",
        "alice@customer.test",
        "Printer on fire",
    )
    assert message["trimmed_text"] == "Hello, my printer is on fire."
    assert [a["filename"] for a in message["attachments"]] == ["photo.txt"]
    # Redelivered by the provider: a duplicate, not a second message.
    again = _post(client, "/inbound", postmark(), _bearer(TOKEN))
    assert again.status_code == 200
    assert [o.state for o in desk.run_worker_until_idle()] == ["duplicate"]
    assert len(desk.ticket(1)["messages"]) == 1


def test_a_reply_by_webhook_threads_like_the_raw_mail(client: FlaskClient, desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    posted = desk.reply(1, "Please unplug it.\n")
    reply = postmark(
        Subject="Re: Printer on fire [TKT-0001]",
        MessageID="83e6d360-0000",
        Headers=[
            {"Name": "Message-ID", "Value": "<m2@customer.test>"},
            {"Name": "In-Reply-To", "Value": f"<{posted.message_id}>"},
            {"Name": "References", "Value": f"<m1@customer.test> <{posted.message_id}>"},
        ],
        TextBody="Done, thanks.\n\nOn Monday, Support wrote:\n> Please unplug it.\n",
    )
    assert _post(client, "/inbound", reply, _basic(TOKEN)).status_code == 200
    (outcome,) = desk.run_worker_until_idle()
    assert (outcome.ticket_number, outcome.appended) == (1, True)
    assert desk.ticket(1)["messages"][-1]["trimmed_text"] == "Done, thanks."


def test_raw_email_is_used_as_is(client: FlaskClient, desk: Desk) -> None:
    raw = make_mail(message_id="raw1@customer.test", subject="From the raw bytes").decode()
    payload = postmark(RawEmail=raw, Subject="ignored", TextBody="ignored")
    assert _post(client, "/inbound", payload, _basic(TOKEN)).status_code == 200
    desk.run_worker_until_idle()
    message = desk.ticket(1)["messages"][0]
    assert (message["message_id"], message["subject"]) == (
        "raw1@customer.test",
        "From the raw bytes",
    )


@pytest.mark.parametrize(
    ("headers", "content_type", "body", "status", "text"),
    [
        ({}, "application/json", "{}", 401, "credentials"),
        ({"Authorization": "Bearer nope"}, "application/json", "{}", 401, "credentials"),
        ({"Authorization": "Basic !!!"}, "application/json", "{}", 401, "credentials"),
        ({"Authorization": f"Bearer {TOKEN}"}, "text/plain", "{}", 415, "JSON"),
        ({"Authorization": f"Bearer {TOKEN}"}, "application/json", "{not json", 400, "malformed"),
        ({"Authorization": f"Bearer {TOKEN}"}, "application/json", "[1, 2]", 400, "object"),
        ({"Authorization": f"Bearer {TOKEN}"}, "application/json", '{"Subject": "x"}', 400, "From"),
        (
            {"Authorization": f"Bearer {TOKEN}"},
            "application/json",
            '{"From": "a@b.test", "Headers": "no"}',
            400,
            "Headers",
        ),
    ],
)
def test_bad_requests_get_a_json_error(
    client: FlaskClient,
    desk: Desk,
    headers: dict[str, str],
    content_type: str,
    body: str,
    status: int,
    text: str,
) -> None:
    answer = client.post("/inbound", data=body, headers=headers, content_type=content_type)
    assert answer.status_code == status
    assert text in answer.get_json()["error"]
    assert desk.spool() == []


def test_too_large_is_413(desk: Desk) -> None:
    desk.reconfigure(max_message_size=1000, snapshot_max_bytes=200)
    client = desk_app(desk).test_client()
    big = postmark(TextBody="x" * 5_000_000)
    assert _post(client, "/inbound", big, _basic(TOKEN)).status_code == 413
    snap = {
        "deploy_id": "d",
        "surface_id": "s",
        "title": "t",
        "severity": "high",
        "snapshot": {"rows": ["x" * 300]},
    }
    answer = _post(client, "/from-snapshot", snap, _bearer(SNAP))
    assert answer.status_code == 413 and "larger than 200 bytes" in answer.get_json()["error"]


def _snapshot(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deploy_id": "web-2026.12.01-3",
        "surface_id": "checkout",
        "title": "Checkout error rate 4%",
        "severity": "degraded",
        "requested_by": "ops@desk.test",
        "snapshot": {"events": [{"at": "2026-12-01T10:00:00Z", "action": "deploy.finished"}]},
    }
    body.update(changes)
    return body


def test_a_snapshot_opens_then_appends_and_a_retry_is_safe(client: FlaskClient, desk: Desk) -> None:
    first = _post(client, "/from-snapshot", _snapshot(), {**_bearer(SNAP), "Idempotency-Key": "k1"})
    assert first.status_code == 201
    body = first.get_json()
    assert body["ticket"] == "TKT-0001" and body["url"].endswith("/ticket/1")
    retry = _post(client, "/from-snapshot", _snapshot(), {**_bearer(SNAP), "Idempotency-Key": "k1"})
    assert retry.status_code == 200 and retry.get_json()["replayed"] is True
    second = _post(client, "/from-snapshot", _snapshot(title="Still failing"), _bearer(SNAP))
    assert second.status_code == 200 and second.get_json()["ticket"] == "TKT-0001"
    other = _post(client, "/from-snapshot", _snapshot(surface_id="search"), _bearer(SNAP))
    assert other.status_code == 201 and other.get_json()["ticket"] == "TKT-0002"
    ticket = desk.ticket(1)
    assert ticket["customer"] is None and "investigate" in ticket["tags"]
    assert ticket["priority"] == "high"
    notes = ticket["messages"]
    assert [m["direction"] for m in notes] == ["internal", "internal"]
    assert '"action": "deploy.finished"' in notes[0]["body_text"]
    assert [a["filename"] for a in notes[0]["attachments"]] == ["snapshot.json"]
    with desk.db.reading() as session:
        mail = session.scalars(select(Outbox.purpose).distinct()).all()
        tags = sorted(session.scalars(select(TicketTag.tag).where(TicketTag.ticket_id == 1)))
    assert set(mail) <= {"notification"}  # agents are told; no customer mail
    assert tags == ["deploy:web-2026.12.01-3", "investigate", "surface:checkout"]
    sign_in(client, desk)  # the archive shows the snapshot as indented JSON
    page = client.get("/ticket/1").get_data(as_text=True)
    assert "&#34;action&#34;: &#34;deploy.finished&#34;" in page or (
        "&quot;action&quot;: &quot;deploy.finished&quot;" in page
    )
    assert "snapshot.json" in page
    bad = _post(client, "/from-snapshot", {"title": "x"}, _bearer(SNAP))
    assert bad.status_code == 400 and "deploy_id" in bad.get_json()["error"]
    assert _post(client, "/from-snapshot", _snapshot(), _basic(SNAP)).status_code == 401
    assert _post(client, "/from-snapshot", _snapshot(), _bearer(TOKEN)).status_code == 401


def test_a_provider_bounce_is_handled_like_a_dsn(client: FlaskClient, desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    desk.reply(1, "Hello.\n")
    desk.send_outbox()
    bounce = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "alice@customer.test",
        "BouncedAt": "2026-12-01T12:00:00Z",
    }
    assert _post(client, "/bounce", bounce, _basic(TOKEN)).status_code == 200
    outcomes = desk.run_worker_until_idle()
    assert [o.kind for o in outcomes] == ["bounce"] and outcomes[0].ticket_number == 1
    with desk.db.reading() as session:
        customer = session.scalars(
            select(Customer).where(Customer.email == "alice@customer.test")
        ).one()
    assert customer.bounced_at is not None and "5.1.1" in customer.bounce_detail
    notes = [m for m in desk.ticket(1)["messages"] if m["kind"] == "bounce"]
    assert len(notes) == 1
    delivery = {"RecordType": "Delivery", "Email": "bob@x.test", "MessageID": "x"}
    answer = _post(client, "/bounce", delivery, _basic(TOKEN))
    assert answer.status_code == 200 and answer.get_json()["result"] == "recorded"
    assert desk.run_worker_until_idle() == []


def test_the_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/inbound", "/bounce", "/from-snapshot"}


def test_a_body_breaking_the_document_is_refused_naming_the_field(
    client: FlaskClient, desk: Desk
) -> None:
    answer = _post(client, "/bounce", {"RecordType": [None], "Email": "a@b.test"}, _bearer(TOKEN))
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("RecordType: expected string or null")
    answer = _post(client, "/inbound", postmark(Attachments=[{"Content": "no!"}]), _bearer(TOKEN))
    assert (answer.status_code, answer.get_json()["error"]) == (
        400,
        "Attachments[0].Content: expected base64",
    )
    long_key = {**_bearer(SNAP), "Idempotency-Key": "k" * 201}
    body = {"deploy_id": "d", "surface_id": "s", "title": "t", "severity": "low", "snapshot": 1}
    assert _post(client, "/from-snapshot", body, long_key).status_code == 400
    assert desk.spool() == [] and desk.tickets() == []


def test_an_inbound_payload_with_only_from_full_keeps_its_sender(
    client: FlaskClient, desk: Desk
) -> None:
    payload = postmark(
        From=None,
        FromFull={"Email": "zoë@customer.test", "Name": 'Zoë "Z" Q'},
        Headers=[],
        Attachments=[{"Name": "a\r\nb.txt", "Content": "aGVsbG8", "ContentID": "x\n1"}],
    )
    assert _post(client, "/inbound", payload, _bearer(TOKEN)).status_code == 200
    (outcome,) = desk.run_worker_until_idle()
    assert outcome.state == "processed"
    (message,) = desk.ticket(1)["messages"]
    assert message["from"] == "zoë@customer.test"
    assert [a["filename"] for a in message["attachments"]] == ["a b.txt"]
