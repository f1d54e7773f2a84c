"""Customer satisfaction: three signed links in the resolving mail, a landing page that
records only on a button press, changes for a while, and the rating on the ticket.

The mail is the harness's real outgoing mail; the page is the archive's own app
(Flask's test client), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from echodesk.desk.jobs.autoclose import run_autoclose
from echodesk.store import ratings
from echodesk.store.models import Rating, Ticket
from echodesk.store.search import search
from echodesk.store.types import utcnow
from echodesk.web.rating import PER_TICKET
from tests.support.agent import mails_to, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

WEB = "https://desk.example.com"
LINK = re.compile(re.escape(WEB) + r"(/rate/[a-z0-9-]+/(good|okay|bad))")


@pytest.fixture
def desk(team: Desk) -> Desk:
    team.reconfigure(satisfaction=True, web_url=WEB)
    team.deliver(make_mail(message_id="q@customer.test", subject="Printer on fire"))
    team.send_outbox()
    return team


@pytest.fixture
def client(desk: Desk) -> FlaskClient:
    return desk_app(desk).test_client()


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _to_alice(desk: Desk) -> list[str]:
    return [text_of(m) for m in mails_to(_outbox(desk), "alice@customer.test")]


def _links(text: str) -> dict[str, str]:
    return {rating: path for path, rating in LINK.findall(text)}


def _rating(desk: Desk) -> ratings.Given | None:
    with desk.db.reading() as session:
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == 1)).one()
        return ratings.of(session, ticket_id)


def test_a_resolving_reply_asks_and_only_a_press_records_the_rating(
    desk: Desk, client: FlaskClient
) -> None:
    desk.answer("#resolve\n\nAll fixed, Alice.")
    (mail,) = _to_alice(desk)
    assert mail.startswith("All fixed, Alice.")
    links = _links(mail)
    assert sorted(links) == ["bad", "good", "okay"]

    page = client.get(links["bad"])  # what a mail scanner does: nothing is recorded
    assert page.status_code == 200 and _rating(desk) is None
    shown = page.get_data(as_text=True)
    assert "TKT-0001" in shown and "Printer on fire" in shown
    assert "alice@customer.test" not in shown and "All fixed" not in shown
    token = links["bad"].split("/")[2]
    pressed = client.post(f"/rate/{token}", data={"rating": "bad", "comment": "Slow answer."})
    assert pressed.status_code == 200 and "is recorded" in pressed.get_data(as_text=True)
    given = _rating(desk)
    assert given is not None and (given.rating, given.comment) == ("bad", "Slow answer.")

    sign_in(client, desk)
    ticket = client.get("/ticket/1").get_data(as_text=True)
    assert "Customer's rating" in ticket and "rating-bad" in ticket and "Slow answer." in ticket
    with desk.db.reading() as session:
        assert [h.number for h in search(session, "rating:bad").hits] == [1]
        assert search(session, "rating:good").hits == []
    assert "rated bad by the customer" in desk.cli("show", "TKT-0001").stdout


def test_a_rating_may_change_for_a_week_then_it_stays(desk: Desk, client: FlaskClient) -> None:
    desk.answer("#resolve\n\nAll fixed.")
    token = _links(_to_alice(desk)[0])["good"].split("/")[2]
    client.post(f"/rate/{token}", data={"rating": "okay"})
    changed = client.post(f"/rate/{token}", data={"rating": "good", "comment": "Fine now"})
    assert "is changed" in changed.get_data(as_text=True)
    assert _rating(desk).rating == "good"  # type: ignore[union-attr]
    with desk.db.transaction() as session:
        session.execute(update(Rating).values(rated_at=utcnow() - timedelta(days=8)))
    late = client.post(f"/rate/{token}", data={"rating": "bad"})
    assert "can no longer be changed" in late.get_data(as_text=True)
    assert _rating(desk).rating == "good"  # type: ignore[union-attr]


def test_a_link_rates_its_own_ticket_and_nothing_else(desk: Desk, client: FlaskClient) -> None:
    desk.answer("#resolve\n\nAll fixed.")
    token = _links(_to_alice(desk)[0])["good"].split("/")[2]
    kind, ticket, signature = token.split("-")
    forged = f"{kind}-{int(ticket) + 1}-{signature}"
    for path in (
        f"/rate/{forged}/good",
        "/rate/nonsense/good",
        f"/rate/{token}/great",
        f"/rate/{token}x/good",
        "/rate/" + "a" * 5000 + "/good",
    ):
        assert client.get(path).status_code == 404, path
    for form in ({"rating": "great"}, {}, {"rating": "good" * 1000}):
        assert client.post(f"/rate/{token}", data=form).status_code == 404
    assert client.post(f"/rate/{forged}", data={"rating": "good"}).status_code == 404
    assert _rating(desk) is None


def test_presses_are_limited_per_ticket(desk: Desk, client: FlaskClient) -> None:
    desk.answer("#resolve\n\nAll fixed.")
    token = _links(_to_alice(desk)[0])["good"].split("/")[2]
    answers = [
        client.post(f"/rate/{token}", data={"rating": "good"}).status_code
        for _ in range(PER_TICKET + 1)
    ]
    assert answers[:PER_TICKET] == [200] * PER_TICKET and answers[-1] == 429


def test_a_resolve_without_words_sends_the_request_alone(desk: Desk) -> None:
    desk.answer("#resolve")
    (mail,) = _to_alice(desk)
    assert mail.startswith("We have resolved TKT-0001.") and len(_links(mail)) == 3


def test_auto_close_asks_too(desk: Desk) -> None:
    desk.reconfigure(autoclose_days=14)
    with desk.db.transaction() as session:
        session.execute(
            update(Ticket).values(status="pending", status_changed_at=utcnow() - timedelta(days=20))
        )
    assert run_autoclose(desk.db, desk.ctx) == [1]
    desk.send_outbox()
    (mail,) = _to_alice(desk)
    assert "we have closed ticket TKT-0001" in mail and len(_links(mail)) == 3


def test_without_satisfaction_nobody_is_asked(desk: Desk) -> None:
    desk.reconfigure(satisfaction=False)
    desk.answer("#resolve\n\nAll fixed.")
    desk.answer("#open", "b2@desk.test")
    desk.answer("#resolve", "b3@desk.test")
    mails = _to_alice(desk)
    assert [m.strip() for m in mails] == ["All fixed."]
