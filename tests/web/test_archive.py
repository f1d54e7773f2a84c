"""The web archive with Flask's test client: sign-in, every page, headers, hostile mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from echodesk.store import agents
from echodesk.store.models import Outbox, SigninToken, Ticket
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_dsn, make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import csrf, link_for, sign_in

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'><svg/onload=alert(3)>"


@pytest.fixture
def desk(team: Desk) -> Desk:
    return team


@pytest.fixture
def client(desk: Desk) -> Iterator[FlaskClient]:
    yield desk_app(desk).test_client()


def _seed(desk: Desk) -> None:
    desk.deliver(
        make_mail(
            message_id="m1@customer.test",
            subject="Printer on fire",
            body="My printer is on fire.\n\nOn Monday, Bob wrote:\n> old text\n",
        )
    )
    desk.reply(1, "Please unplug it.\n")
    desk.note(1, "VIP customer.")
    html = EmailMessage()
    html["From"] = f"Mallory {XSS} <mallory@evil.test>"
    html["To"] = "support@desk.test"
    html["Subject"] = f"Hello {XSS}"
    html["Message-ID"] = "<x1@evil.test>"
    html.set_content("plain part")
    html.add_alternative(
        f'<p onclick="steal()">Hi</p>{XSS}<a href="javascript:alert(4)">click</a>'
        '<img src="https://tracker.example/pixel.gif"><form action="https://evil.test">'
        '<input name="pw"></form><iframe src="https://evil.test"></iframe>',
        subtype="html",
    )
    html.add_attachment(
        b"MZ...", maintype="application", subtype="x-msdownload", filename=f"{XSS}.exe"
    )
    desk.deliver(html.as_bytes())


PAGES = [
    "/",
    "/ticket/1",
    "/customer/1",
    "/customers",
    "/customers?q=alice",
    "/spool",
    "/agents",
    "/ticket/1/message/1.html",
    "/attachment/1",
    "/?q=printer",
    "/?status=open&page=2",
]


@pytest.mark.parametrize("path", PAGES)
def test_nothing_is_visible_without_signing_in(client: FlaskClient, desk: Desk, path: str) -> None:
    _seed(desk)
    answer = client.get(path)
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]
    assert client.get("/api/tickets").status_code == 401
    assert client.get("/api/tickets/TKT-0001").status_code == 401


def test_the_sign_in_link_works_once_and_tells_strangers_nothing(
    client: FlaskClient, desk: Desk
) -> None:
    page = client.get("/signin").get_data(as_text=True)
    stranger = client.post("/signin", data={"email": "nobody@evil.test", "csrf": csrf(page)})
    agent = client.post("/signin", data={"email": "BOB@desk.test", "csrf": csrf(page)})
    same = "If that address belongs to an agent, a sign-in link is on its way"
    assert same in stranger.get_data(as_text=True) and same in agent.get_data(as_text=True)
    with desk.db.reading() as session:
        rows = session.scalars(select(Outbox.rcpt).where(Outbox.purpose == "signin")).all()
    assert rows == ["bob@desk.test"]
    link = link_for(desk, "bob@desk.test")
    assert link.startswith("http://127.0.0.1:8025/signin/")
    path = "/" + link.split("/", 3)[3]
    confirm = client.get(path)  # a mail scanner fetching the link does not use it up
    assert confirm.status_code == 200
    assert client.get(path).status_code == 200
    done = client.post(path, data={"csrf": csrf(confirm.get_data(as_text=True))})
    assert done.status_code == 302
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200
    other = desk_app(desk).test_client()  # the same link in another browser: used up
    again = other.get(path).get_data(as_text=True)
    refused = other.post(path, data={"csrf": csrf(again)})
    assert refused.status_code == 400 and "not valid" in refused.get_data(as_text=True)


def test_expired_forged_and_csrf_less_attempts_are_refused(client: FlaskClient, desk: Desk) -> None:
    page = client.get("/signin").get_data(as_text=True)
    assert client.post("/signin", data={"email": "bob@desk.test"}).status_code == 400  # no CSRF
    client.post("/signin", data={"email": "bob@desk.test", "csrf": csrf(page)})
    path = "/" + link_for(desk, "bob@desk.test").split("/", 3)[3]
    with desk.db.transaction() as session:
        session.execute(update(SigninToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    confirm = client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf": csrf(confirm)}).status_code == 400
    forged = "/signin/" + "A" * 43
    confirm = client.get(forged).get_data(as_text=True)
    assert client.post(forged, data={"csrf": csrf(confirm)}).status_code == 400
    assert client.get("/").status_code == 302


def test_a_disabled_agent_is_out_at_once(client: FlaskClient, desk: Desk) -> None:
    sign_in(client, desk)
    assert client.get("/").status_code == 200
    with desk.db.transaction() as session:
        agents.disable(session, "bob@desk.test")
    assert client.get("/").status_code == 302


def test_the_pages_show_the_desk(client: FlaskClient, desk: Desk) -> None:
    _seed(desk)
    with desk.db.transaction() as session:
        session.execute(update(Ticket).where(Ticket.number == 1).values(status="open"))
        session.execute(update(Ticket).where(Ticket.number == 2).values(status="pending"))
    sign_in(client, desk)
    listing = client.get("/").get_data(as_text=True)
    assert "Printer on fire" in listing and "TKT-0001" in listing
    assert re.search(r"Open <span class=\"count\">1</span>", listing)
    assert re.search(r"Pending <span class=\"count\">1</span>", listing)
    assert '<meta charset="utf-8">' in listing
    partial = client.get("/?status=pending", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and "TKT-0002" in partial and "TKT-0001" not in partial
    found = client.get("/?q=printer").get_data(as_text=True)
    assert "<mark>" in found and "TKT-0001" in found and "TKT-0002" not in found
    bad = client.get("/?q=status:finished").get_data(as_text=True)
    assert "status:finished: use one of" in bad
    ticket = client.get("/ticket/1").get_data(as_text=True)
    assert 'class="card msg inbound"' in ticket and 'class="card msg outbound"' in ticket
    assert 'class="card msg internal"' in ticket and "Internal note" in ticket
    assert "Show the quoted part" in ticket and "Audit trail" in ticket
    assert "tickets.reply" in ticket
    hostile = client.get("/ticket/2").get_data(as_text=True)
    assert "<iframe" in hostile and 'sandbox="allow-popups' in hostile
    assert "Load remote images" in hostile
    assert client.get("/customer/1").status_code == 200
    spool_page = client.get("/spool").get_data(as_text=True)
    assert "Failed" in spool_page and "Quarantined" in spool_page
    agents_page = client.get("/agents").get_data(as_text=True)
    assert "bob@desk.test" in agents_page and "eve@desk.test" in agents_page
    assert client.get("/ticket/99").status_code == 404
    assert client.get("/ticket/1/message/999.html").status_code == 404


def test_a_search_that_stopped_counting_says_so_and_pages_on(
    client: FlaskClient, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from echodesk.store import search, searchpages

    for n in range(3):
        desk.deliver(
            make_mail(
                message_id=f"toner{n}@customer.test",
                sender=f"c{n}@customer.test",
                subject=f"Toner {n}",
                minutes=n,
            )
        )
    monkeypatch.setattr("echodesk.web.pages.PER_PAGE", 1)
    for dialect, budget in search.BUDGETS.items():  # walked, and counted one ticket ahead
        monkeypatch.setitem(search.BUDGETS, dialect, replace(budget, set_limit=0, count_ms=0))
    monkeypatch.setattr(searchpages, "FEWEST_COUNTED", 1)
    sign_in(client, desk)
    first = client.get("/?q=status:open").get_data(as_text=True)
    assert "2+ tickets" in first and "Next →" in first and "← Previous" not in first
    shown = re.findall(r'<td class="c-num"><a href="/ticket/(\d+)">', first)
    page = first
    for _ in range(5):  # the pager's own links carry the cursor
        link = re.search(r'<a href="([^"]*cursor=[^"]+)"[^>]*>Next →</a>', page)
        if link is None:
            break
        page = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
        shown += re.findall(r'<td class="c-num"><a href="/ticket/(\d+)">', page)
    assert sorted(shown) == ["1", "2", "3"]
    assert "3 tickets" in page and "+ tickets" not in page and "Next →" not in page
    assert "page 3 of 3" in page and "← Previous" in page
    forged = client.get("/?q=status:open&cursor=bm90LWEtY3Vyc29y")
    assert forged.status_code == 200
    assert "this page link is damaged" in forged.get_data(as_text=True)
    foreign = re.search(r'cursor=([^"&]+)', first)
    assert foreign is not None
    other = client.get(f"/?q=toner&cursor={foreign.group(1)}").get_data(as_text=True)
    assert "belongs to another search" in other


def test_hostile_mail_renders_inert(client: FlaskClient, desk: Desk) -> None:
    _seed(desk)
    sign_in(client, desk)
    for path in ("/", "/ticket/2", "/?q=hello", "/customer/2"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "<svg/onload" not in page  # the text is there, escaped, as text
        assert "&lt;script&gt;" in page
    ticket = client.get("/ticket/2").get_data(as_text=True)
    frame_url = re.search(r'<iframe name="frame\d+" src="([^"]+)"', ticket)
    assert frame_url
    frame = client.get(frame_url.group(1))
    body = frame.get_data(as_text=True)
    for bad in (
        "<script",
        "onclick",
        "onerror",
        "javascript:",
        "<form",
        "<iframe",
        "<svg",
        "tracker.example",
    ):
        assert bad not in body.lower(), bad
    policy_ = frame.headers["Content-Security-Policy"]
    assert "script-src" not in policy_ and "default-src 'none'" in policy_ and "sandbox" in policy_
    assert "img-src data:;" in policy_
    with_images = client.get(frame_url.group(1) + "?images=1")
    assert "tracker.example" in with_images.get_data(as_text=True)
    assert "https:" in with_images.headers["Content-Security-Policy"]
    files = re.findall(r'href="(/attachment/\d+)"', ticket)
    download = client.get(files[0])
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.data == b"MZ..."


def test_security_headers_on_every_page(client: FlaskClient, desk: Desk) -> None:
    _seed(desk)
    sign_in(client, desk)
    for path in ("/", "/ticket/1", "/agents", "/spool", "/signin"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_no_page_changes_anything(client: FlaskClient, desk: Desk) -> None:
    _seed(desk)
    sign_in(client, desk)
    before = desk.tickets()
    for path in ("/", "/ticket/1", "/ticket/2", "/spool", "/agents", "/customer/1"):
        assert client.post(path).status_code == 405
    assert desk.tickets() == before


def test_json_api_with_session_and_token(desk: Desk) -> None:
    _seed(desk)
    desk.reconfigure(api_token="s3cret-token")
    client = desk_app(desk).test_client()
    assert client.get("/api/tickets", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret-token"}
    listing = client.get("/api/tickets", headers=auth).get_json()
    assert listing["total"] == 2
    assert {t["number"] for t in listing["tickets"]} == {"TKT-0001", "TKT-0002"}
    assert set(listing["tickets"][0]) >= {"number", "status", "subject", "customer", "tags"}
    one = client.get("/api/tickets/TKT-0001", headers=auth).get_json()
    assert one["number"] == "TKT-0001" and len(one["messages"]) == 3
    assert client.get("/api/tickets/TKT-0099", headers=auth).status_code == 404
    assert client.get("/", headers=auth).status_code == 302  # the token is for the API only


def test_an_access_proxy_header_counts_only_from_the_proxy(desk: Desk) -> None:
    desk.reconfigure(
        web_trusted_header="Cf-Access-Authenticated-User-Email", web_trusted_proxies=("10.0.0.0/8",)
    )
    client = desk_app(desk).test_client()
    header = {"Cf-Access-Authenticated-User-Email": "eve@desk.test"}
    via_proxy: dict[str, Any] = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/", headers=header, environ_base=via_proxy).status_code == 200
    elsewhere: dict[str, Any] = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/", headers=header, environ_base=elsewhere).status_code == 302
    stranger = {"Cf-Access-Authenticated-User-Email": "mallory@evil.test"}
    assert client.get("/", headers=stranger, environ_base=via_proxy).status_code == 302


def test_mounted_under_a_prefix(desk: Desk) -> None:
    desk.reconfigure(web_prefix="/tickets")
    client = desk_app(desk).test_client()
    answer = client.get("/tickets/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/tickets/signin")
    with client.get("/tickets/static/echo.css") as css:
        assert css.status_code == 200 and b"--bg" in css.data
    assert client.get("/").status_code == 404


def test_a_bounced_customer_shows_it(client: FlaskClient, desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    desk.reply(1, "Hello.\n")
    desk.send_outbox()
    with desk.db.reading() as session:
        verp = session.scalars(select(Outbox.mail_from).where(Outbox.purpose == "reply")).one()
    desk.deliver(make_dsn(failed="alice@customer.test", to=verp), rcpt_to=(verp,))
    sign_in(client, desk)
    page = client.get("/customer/1").get_data(as_text=True)
    assert "bounced" in page and "5.1.1" in page
