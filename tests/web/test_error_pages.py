"""Tickets by their reference, and error pages that look like the archive they belong to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from echodesk.store import archive
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

ARCHIVE_LOOK = ('href="/static/echo.css"', 'class="brand"', 'class="card narrow empty"')


@pytest.fixture
def client(team: Desk) -> Iterator[FlaskClient]:
    team.deliver(make_mail(message_id="m1@customer.test", subject="Printer on fire"))
    client = desk_app(team).test_client()
    sign_in(client, team)
    yield client


def _looks_like_the_archive(page: str) -> None:
    for mark in ARCHIVE_LOOK:
        assert mark in page, page[:800]


def test_a_ticket_reference_leads_to_the_ticket(client: FlaskClient) -> None:
    for reference in ("TKT-0001", "tkt-1", "TKT-1"):
        answer = client.get(f"/ticket/{reference}")
        assert answer.status_code == 302 and answer.headers["Location"] == "/ticket/1", reference
    page = client.get("/ticket/TKT-0001", follow_redirects=True)
    assert page.status_code == 200 and "Printer on fire" in page.get_data(as_text=True)
    for missing in ("TKT-0099", "ABC-0001", "TKT-", "TKT-1x", "TKT-99999999999999999999"):
        assert client.get(f"/ticket/{missing}", follow_redirects=True).status_code == 404


def test_a_reference_shows_nothing_before_signing_in(team: Desk) -> None:
    team.deliver(make_mail(message_id="m1@customer.test", subject="Printer on fire"))
    team.reconfigure(web_prefix="/desk", ticket_prefix="HELP")
    client = desk_app(team).test_client()
    answer = client.get("/desk/ticket/HELP-0001")
    assert answer.status_code == 302 and "/desk/signin" in answer.headers["Location"]


def test_not_found_pages_have_the_archive_look(client: FlaskClient) -> None:
    for path in ("/ticket/99", "/no/such/page", "/ticket/TKT-0042"):
        answer = client.get(path, follow_redirects=True)
        assert answer.status_code == 404 and answer.mimetype == "text/html", path
        page = answer.get_data(as_text=True)
        _looks_like_the_archive(page)
        assert "There is nothing here" in page and 'href="/spool"' in page
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


def test_other_errors_have_the_archive_look_and_their_status(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = client.post("/ticket/1")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    _looks_like_the_archive(wrong.get_data(as_text=True))

    expired = client.post("/signin", data={"email": "bob@desk.test"})
    assert expired.status_code == 400
    _looks_like_the_archive(expired.get_data(as_text=True))
    assert "The form expired" in expired.get_data(as_text=True)

    def broken(*_args: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(archive, "spool_problems", broken)
    assert client.application.config["TESTING"]
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    failed = client.get("/spool")
    assert failed.status_code == 500
    page = failed.get_data(as_text=True)
    _looks_like_the_archive(page)
    assert "went wrong" in page and "the database went away" not in page


def test_the_api_keeps_answering_json(client: FlaskClient) -> None:
    for path in ("/api/tickets/TKT-0099", "/api/nowhere"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.is_json and answer.get_json()["error"]
