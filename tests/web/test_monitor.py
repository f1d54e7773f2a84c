"""/healthz, /readyz and /metrics: what a platform and Prometheus ask of a running Echo."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from echodesk.store.db import Database
from echodesk.store.migrate import SCHEMA_HEAD
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow
from echodesk.web.app import WebContext, create_app
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app

TOKEN = "scrape-me"


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_healthz_answers_without_signing_in(team: Desk) -> None:
    answer = desk_app(team).test_client().get("/healthz")
    assert answer.status_code == 200 and answer.data == b"ok\n"


def test_readyz_is_ready_when_database_and_blobs_are(team: Desk) -> None:
    answer = desk_app(team).test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {"ready": True, "database": "ok", "migrations": "current", "blobs": "ok"}


def test_readyz_is_not_ready_while_the_schema_is_behind_the_code(team: Desk) -> None:
    with team.db.transaction() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    answer = desk_app(team).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["ready"] is False
    assert answer.json["migrations"] == f"at 0001, code needs {SCHEMA_HEAD}"


def test_readyz_is_not_ready_while_the_database_is_down(team: Desk, tmp_path: Path) -> None:
    closed = Database("postgresql+psycopg://echo@127.0.0.1:9/echodesk?connect_timeout=2")
    web = WebContext(
        settings=team.settings,
        db=closed,
        blobs=team.ctx.blobs,
        secret=team.ctx.secret,
        send_link=lambda *_: None,
    )
    try:
        answer = create_app(web).test_client().get("/readyz")
    finally:
        closed.dispose()
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["database"].startswith("unreachable")


def test_metrics_is_off_without_a_token_and_refuses_a_wrong_one(team: Desk) -> None:
    assert desk_app(team).test_client().get("/metrics").status_code == 404
    team.reconfigure(metrics_token=TOKEN)
    client = desk_app(team).test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("waiting_minutes", [0, 30])
def test_metrics_count_the_queues_from_the_database(team: Desk, waiting_minutes: int) -> None:
    team.reconfigure(metrics_token=TOKEN)
    team.accept(make_mail(message_id="one@customer.test"))
    team.accept(make_mail(message_id="two@customer.test"))
    if waiting_minutes:
        with team.db.transaction() as session:
            earlier = utcnow() - timedelta(minutes=waiting_minutes)
            session.execute(update(InboundSpool).values(received_at=earlier))
    answer = (
        desk_app(team).test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    )
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    samples = _samples(answer.data)
    assert samples[("echodesk_spool_rows", (("state", "pending"),))] == 2
    assert samples[("echodesk_spool_rows", (("state", "failed"),))] == 0
    assert samples[("echodesk_outbox_rows", (("state", "queued"),))] == 0
    assert samples[("echodesk_up", (("part", "database"),))] == 1
    age = samples[("echodesk_spool_oldest_pending_seconds", ())]
    assert waiting_minutes * 60 - 5 <= age <= waiting_minutes * 60 + 120
    stuck = 1 if waiting_minutes > 15 else 0
    assert samples[("echodesk_problems", ())] == stuck


def test_the_health_page_and_the_header_show_what_needs_a_person(team: Desk) -> None:
    from echodesk.desk.jobs.alerts import run_alerts
    from echodesk.store.connectors import DbHealth
    from tests.support.websignin import sign_in

    team.reconfigure(alert_after=0)
    client = desk_app(team).test_client()
    sign_in(client, team)
    calm = client.get("/health").get_data(as_text=True)
    assert "all is well" in calm and "No mailbox or relay has reported yet." in calm
    assert "need" not in client.get("/").get_data(as_text=True).split("<main>")[0]

    DbHealth(team.db, "imap").failed("imap:support/INBOX", "IMAP login refused")
    run_alerts(team.db, team.ctx)  # the alert job opens the incident the header shows
    page = client.get("/health").get_data(as_text=True)
    assert "1 needs a person" in page and "IMAP login refused" in page
    header = client.get("/").get_data(as_text=True).split("<main>")[0]
    assert "1 needs a person" in header and "imap:support/INBOX failing since" in header
    assert desk_app(team).test_client().get("/health").status_code == 302  # signed in only


def test_readyz_is_not_ready_while_the_blob_store_is_out_of_reach(team: Desk) -> None:
    from echodesk.store.blobs import open_blob_store
    from tests.support.postgres import free_port
    from tests.support.s3 import settings_for

    dead = settings_for(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    team.reconfigure(**dead)
    store = open_blob_store("s3://nowhere/echo", team.settings)
    web = WebContext(
        settings=team.settings,
        db=team.db,
        blobs=store,
        secret=team.ctx.secret,
        send_link=lambda *_: None,
    )
    answer = create_app(web).test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["database"] == "ok"
    assert answer.json["blobs"].startswith("unreachable")
