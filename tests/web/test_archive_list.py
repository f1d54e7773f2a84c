"""The ticket list as a table: what each row shows, every sort both ways, paging in a sort,
the HTML mail's frame; on SQLite and PostgreSQL (the ``team`` desk runs on each)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select, update
from werkzeug.serving import BaseWSGIServer, make_server

from echodesk.config import SlaPolicy
from echodesk.statuses import STATUSES, Status
from echodesk.store import agents, signin
from echodesk.store.models import Agent, Message, Ticket, TicketSla, TicketTag
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

CHROMIUM = "/usr/bin/chromium"
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # make_mail's Date at minutes=0
SORT_KEYS = ("number", "customer", "status", "assignee", "waiting", "sla", "updated")


@pytest.fixture
def client(team: Desk) -> Iterator[FlaskClient]:
    yield desk_app(team).test_client()


def _table(page: str) -> str:
    found = re.search(r'<div class="ticket-table">(.*?)</table>', page, re.S)
    assert found, page[:2000]
    return found.group(1)


def _rows(page: str) -> dict[int, str]:
    """Each table row's HTML, by ticket number, in the order shown."""
    rows = re.findall(r'<tr class="ticket-row">(.*?)</tr>', _table(page), re.S)
    return {int(re.search(r'href="/ticket/(\d+)"', row).group(1)): row for row in rows}  # type: ignore[union-attr]


def _numbers(page: str) -> list[int]:
    return list(_rows(page))


def _cell(row: str, name: str) -> str:
    found = re.search(rf'<td class="c-{name}">(.*?)</td>', row, re.S)
    assert found, row
    return found.group(1)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- what a row shows ---------------------------------------------------------------


def test_the_table_shows_preview_customer_waiting_and_sla_due(team: Desk) -> None:
    team.reconfigure(sla=(SlaPolicy(name="standard", first_response="400d", hours="calendar"),))
    client = desk_app(team).test_client()
    quoted = "My printer is on fire.\n\nOn Monday, Bob wrote:\n> the old quoted text\n"
    team.deliver(make_mail(message_id="a1@customer.test", body=quoted))
    team.deliver(
        make_mail(
            message_id="a2@customer.test",
            in_reply_to="a1@customer.test",
            subject="Re: Printer on fire",
            body="Any news?   It is\nstill burning.\n",
            minutes=30,
        )
    )
    team.note(1, "VIP customer, handle with care.")
    team.deliver(make_mail(message_id="z1@x.test", sender="zed@x.test", subject="Invoice"))
    team.reply(2, "Your invoice is attached.\n")
    with team.db.transaction() as session:
        due = session.scalars(select(TicketSla.response_due).where(TicketSla.ticket_id == 1)).one()
    assert due is not None
    sign_in(client, team)
    rows = _rows(client.get("/").get_data(as_text=True))

    first = rows[1]
    # The newest message the customer sees, trimmed and on one line; never the note.
    assert _text(_cell(first, "subject")) == "Printer on fire Any news? It is still burning."
    assert "VIP" not in first and "old quoted text" not in first
    assert ">Alice Customer</a>" in _cell(first, "customer")
    assert 'title="alice@customer.test"' in _cell(first, "customer")
    # Waiting since the first message nobody answered: the follow-up keeps its place.
    waiting = _cell(first, "waiting")
    assert (
        '<time datetime="2026-11-02T09:00:00Z" title="Waiting since 2026-11-02 09:00">' in waiting
    )
    assert re.search(r">\d+ d</time>", waiting)
    sla = _cell(first, "sla")
    assert f'datetime="{due.isoformat()}"' in sla and ">in " in sla
    assert "First response due " + due.strftime("%Y-%m-%d %H:%M") in sla

    second = rows[2]
    assert _text(_cell(second, "subject")) == "Invoice Reply: Your invoice is attached."
    assert ">zed@x.test</a>" in _cell(second, "customer")  # no name: the address
    assert _text(_cell(second, "waiting")) == "—"  # answered: waiting on the customer
    assert _text(_cell(second, "status")) == Status.PENDING.value

    with team.db.transaction() as session:
        session.execute(
            update(TicketSla)
            .where(TicketSla.ticket_id == 1)
            .values(response_due=datetime.now(UTC) - timedelta(hours=1))
        )
    breached = _rows(client.get("/").get_data(as_text=True))[1]
    assert _text(_cell(breached, "sla")) == "breached"

    cards = client.get("/").get_data(as_text=True).split('class="list ticket-cards"', 1)[1]
    assert "Any news? It is still burning." in cards and "Alice Customer" in cards
    assert "waiting " in cards


def test_the_customer_writing_again_after_a_reply_waits_from_that_message(
    client: FlaskClient, team: Desk
) -> None:
    team.deliver(make_mail(message_id="b1@customer.test"))
    team.reply(1, "Unplug it, please.\n")
    team.deliver(
        make_mail(
            message_id="b2@customer.test",
            in_reply_to="b1@customer.test",
            subject="Re: Printer on fire",
            body="Unplugged. Now what?\n",
            minutes=90,
        )
    )
    sign_in(client, team)
    row = _rows(client.get("/").get_data(as_text=True))[1]
    assert 'datetime="2026-11-02T10:30:00Z"' in _cell(row, "waiting")
    assert _text(_cell(row, "subject")).endswith("Unplugged. Now what?")


# -- sorting ------------------------------------------------------------------------


def _seed_for_sorting(desk: Desk) -> dict[int, dict[str, Any]]:
    """Seven tickets whose every sortable value ties with another's somewhere, and
    some without a value; what each key should sort them by (None: no value)."""
    people = ["Carla <carla@a.test>", "zed@x.test", "Alice <alice@a.test>",
              "Carla <carla@b.test>", "Bruno <bruno@a.test>", "Alice <alice@a.test>",
              "Dora <dora@a.test>"]  # fmt: skip
    for n, sender in enumerate(people, start=1):
        desk.deliver(make_mail(message_id=f"s{n}@x.test", sender=sender, subject=f"Case {n}"))
    desk.add_agent("bob2@desk.test", "BOB agent")  # another person of Bob's name
    desk.reply(7, "We are on it.")  # open, but answered: the customer does not wait
    open_, pending, resolved, closed = STATUSES
    plan = {  # number: status, assignee, updated (hours after BASE), waiting since, SLA due
        1: (open_, "bob", 5, 1, (30, 50)),
        2: (pending, "bob2", 7, None, None),
        3: (resolved, "eve", 5, None, (None, 20)),
        4: (open_, "bob", 9, 1, (50, 30)),
        5: (closed, None, 7, None, None),
        6: (open_, "eve", 1, 3, (20, None)),
        7: (open_, None, 3, None, None),
    }
    now = datetime.now(UTC)
    expected: dict[int, dict[str, Any]] = {}
    with desk.db.transaction() as session:
        team = {a.email.split("@")[0]: a for a in session.scalars(select(Agent))}
        for n, (status, who, updated, waiting, sla) in plan.items():
            tid = session.scalars(select(Ticket.id).where(Ticket.number == n)).one()
            session.execute(
                update(Ticket)
                .where(Ticket.id == tid)
                .values(
                    status=status,
                    assignee_id=team[who].id if who else None,
                    updated_at=BASE + timedelta(hours=updated),
                )
            )
            since = BASE + timedelta(hours=waiting or 0)
            session.execute(update(Message).where(Message.ticket_id == tid).values(sent_at=since))
            if sla:
                response, resolution = (BASE + timedelta(days=d) if d else None for d in sla)
                session.add(TicketSla(ticket_id=tid, policy="standard", response_due=response,
                                      resolution_due=resolution))  # fmt: skip
            name = people[n - 1]
            expected[n] = {
                "number": n,
                "customer": (name.split(" <")[0] if "<" in name else name).lower(),
                "status": STATUSES.index(status),
                "assignee": f"{who[:3]} agent" if who else None,
                "waiting": (now - since).total_seconds() if waiting else None,
                "sla": min((d for d in sla if d), default=None) if sla else None,
                "updated": updated,
            }
    return expected


def _expected_order(values: dict[int, dict[str, Any]], key: str, direction: str) -> list[int]:
    """What a person expects: by the value shown (a wait by its length), ties by ticket
    number in the same direction, rows without a value last either way."""
    have = [n for n in values if values[n][key] is not None]
    lack = [n for n in values if values[n][key] is None]
    backwards = direction == "desc"
    have.sort(key=lambda n: (values[n][key], n), reverse=backwards)
    lack.sort(reverse=backwards)
    if key == "waiting":  # an open ticket whose customer was answered: still in the queue
        lack.sort(key=lambda n: values[n]["status"] != 0)
    return have + lack


def test_every_column_sorts_both_ways_with_ties_broken_by_ticket(
    client: FlaskClient, team: Desk
) -> None:
    values = _seed_for_sorting(team)
    for key in SORT_KEYS:
        if key != "number":  # each order has a tie to break
            shown = [values[n][key] for n in values if values[n][key] is not None]
            assert len(set(shown)) < len(shown), key
    sign_in(client, team)
    for key in SORT_KEYS:
        for direction in ("asc", "desc"):
            page = client.get("/", query_string={"sort": key, "dir": direction})
            assert page.status_code == 200
            wanted = _expected_order(values, key, direction)
            assert _numbers(page.get_data(as_text=True)) == wanted, (key, direction)


def test_a_header_link_sorts_by_its_column_then_turns_it_around(
    client: FlaskClient, team: Desk
) -> None:
    values = _seed_for_sorting(team)
    sign_in(client, team)
    page = client.get("/", query_string={"status": "open"}).get_data(as_text=True)
    link = re.search(r'<th scope="col" class="c-waiting"><a href="([^"]+)"', page)
    assert link and "status=open" in link.group(1)
    longest = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    open_only = {n: v for n, v in values.items() if v["status"] == 0}
    assert _numbers(longest) == _expected_order(open_only, "waiting", "desc")
    assert 'class="c-waiting" aria-sort="descending"' in longest
    again = re.search(r'<th scope="col" class="c-waiting"[^>]*><a href="([^"]+)"', longest)
    assert again and "dir=asc" in again.group(1)
    shortest = client.get(again.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert _numbers(shortest) == _expected_order(open_only, "waiting", "asc")


def _pages(client: FlaskClient, url: str) -> list[int]:
    """Every ticket number, page after page, following the pager's own next link."""
    seen: list[int] = []
    for _ in range(20):
        page = client.get(url).get_data(as_text=True)
        seen += _numbers(page)
        following = re.search(r'<a href="([^"]+)"[^>]*>(?:Older|Next) →</a>', page)
        if not following:
            return seen
        url = following.group(1).replace("&amp;", "&")
    raise AssertionError("the pager never ends")


def test_paging_in_any_sort_shows_each_ticket_once(
    client: FlaskClient, team: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _seed_for_sorting(team)
    monkeypatch.setattr("echodesk.web.pages.PER_PAGE", 2)
    sign_in(client, team)
    for key in SORT_KEYS:
        for direction in ("asc", "desc"):
            seen = _pages(client, f"/?sort={key}&dir={direction}")
            assert seen == _expected_order(values, key, direction), (key, direction)
    assert _pages(client, "/") == _expected_order(values, "updated", "desc")


def test_an_unknown_sort_is_the_default_order(client: FlaskClient, team: Desk) -> None:
    values = _seed_for_sorting(team)
    sign_in(client, team)
    default = _expected_order(values, "updated", "desc")
    for query in (
        {"sort": "subject; DROP TABLE tickets"},
        {"sort": "updated_at"},
        {"sort": "", "dir": "desc"},
        {"sort": "__class__", "dir": "sideways"},
        {"dir": "asc\x00"},
    ):
        page = client.get("/", query_string=query)
        assert page.status_code == 200, query
        assert _numbers(page.get_data(as_text=True)) == default, query
    odd_direction = client.get("/", query_string={"sort": "customer", "dir": "up"})
    assert _numbers(odd_direction.get_data(as_text=True)) == _expected_order(
        values, "customer", "asc"
    )


def test_tabs_filters_and_htmx_keep_the_sort(client: FlaskClient, team: Desk) -> None:
    values = _seed_for_sorting(team)
    sign_in(client, team)
    swap = client.get(
        "/", query_string={"sort": "sla", "dir": "asc"}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in swap
    assert _numbers(swap) == _expected_order(values, "sla", "asc")
    tabs = re.search(r'<nav class="tabs" id="status-tabs"[^>]*hx-swap-oob="true">(.*?)</nav>',
                     swap, re.S)  # fmt: skip
    assert tabs, "the tab strip comes along, out of band"
    links = re.findall(r'<a href="([^"]+)"', tabs.group(1))
    assert len(links) == 1 + len(STATUSES)
    assert all("sort=sla" in link and "dir=asc" in link for link in links)
    # The filters form submits the shown order: its hidden fields are swapped with the list.
    assert '<input type="hidden" name="sort" value="sla" form="ticket-filters">' in swap
    assert '<input type="hidden" name="dir" value="asc" form="ticket-filters">' in swap
    full = client.get("/?status=open&sort=sla&dir=asc").get_data(as_text=True)
    assert 'id="ticket-filters"' in full and "hx-swap-oob" not in full
    open_ = {n: v for n, v in values.items() if v["status"] == 0}
    assert _numbers(full) == _expected_order(open_, "sla", "asc")


def test_a_search_keeps_best_match_first_with_plain_headers(
    client: FlaskClient, team: Desk
) -> None:
    _seed_for_sorting(team)
    sign_in(client, team)
    page = client.get("/", query_string={"q": "case", "sort": "number"}).get_data(as_text=True)
    assert "best match first" in page
    assert '<th scope="col" class="c-customer">Customer</th>' in page
    assert sorted(_numbers(page)) == list(range(1, 8))


def test_a_page_costs_the_same_queries_whatever_its_size(client: FlaskClient, team: Desk) -> None:
    def statements(job: Callable[[], object]) -> int:
        count = 0

        def counted(*_: object) -> None:
            nonlocal count
            count += 1

        event.listen(team.db.engine, "before_cursor_execute", counted)
        try:
            job()
        finally:
            event.remove(team.db.engine, "before_cursor_execute", counted)
        return count

    sign_in(client, team)

    def deliver(first: int, last: int) -> None:
        for n in range(first, last):
            team.deliver(make_mail(message_id=f"q{n}@x.test", sender=f"P {n} <p{n}@x.test>",
                                   subject=f"Question {n}", minutes=n))  # fmt: skip
        with team.db.transaction() as session:
            one = select(Agent.id).order_by(Agent.id).limit(1).scalar_subquery()
            session.execute(update(Ticket).values(assignee_id=one))

    deliver(0, 2)
    few = statements(lambda: client.get("/?sort=waiting"))
    deliver(2, 20)
    many = statements(lambda: client.get("/?sort=waiting"))
    assert len(_numbers(client.get("/").get_data(as_text=True))) == 20
    assert many == few


# -- the HTML mail's frame ----------------------------------------------------------

DOT = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmM"
    "IQAAAABJRU5ErkJggg=="
)


def _html_mail(message_id: str, html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = f"Mail {message_id}"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("The plain part.")
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_the_mail_frame_runs_no_script_and_still_shows_data_images(
    client: FlaskClient, team: Desk
) -> None:
    html = f'<p>Short.</p><img src="data:image/png;base64,{DOT}" alt="dot"><script>x()</script>'
    team.deliver(_html_mail("f1@customer.test", html))
    sign_in(client, team)
    ticket = client.get("/ticket/1").get_data(as_text=True)
    frame = re.search(r'<iframe name="frame\d+" src="([^"]+)"[^>]*sandbox="([^"]*)"', ticket)
    assert frame, ticket
    sandbox = frame.group(2).split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" in sandbox
    answer = client.get(frame.group(1))
    policy = answer.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert "script-src" not in directives and "script-src-elem" not in directives
    assert directives["default-src"] == ["'none'"]
    assert "allow-scripts" not in directives["sandbox"]
    assert directives["img-src"] == ["data:"]
    body = answer.get_data(as_text=True)
    assert f'src="data:image/png;base64,{DOT}"' in body and "<script" not in body
    assert "X-Frame-Options" not in answer.headers  # the ticket page may frame it


def test_a_real_browser_fits_the_frame_to_the_mail(tmp_path: Path) -> None:
    """Chromium: a short mail's frame is short, a long one's shows all of it without
    scrolling inside, and the frame's sandbox still stops its scripts."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    desk = Desk(f"sqlite:///{tmp_path / 'echo.db'}", tmp_path / "data", flood_limit=0)
    desk.add_agent("bob@desk.test", "Bob Agent")
    desk.deliver(_html_mail("short@customer.test", "<p>Thanks, that worked.</p>"))
    long_html = "".join(f"<p>Line {n} of a long newsletter.</p>" for n in range(80))
    desk.deliver(_html_mail("long@customer.test", long_html))
    server = _serve(desk)
    base = f"http://127.0.0.1:{server.server_port}"
    with desk.db.transaction() as session:
        agent = agents.by_email(session, "bob@desk.test")
        assert agent is not None
        token = signin.create(session, agent.id)
    problems: list[str] = []
    sizes: dict[int, tuple[float, float, float]] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 390, "height": 844})
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.goto(f"{base}/signin/{token}")
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                for number in (1, 2):
                    page.goto(f"{base}/ticket/{number}")
                    page.locator("details.html summary").first.click()
                    frame = page.locator("iframe.mail-frame").first
                    page.wait_for_function(
                        "f => f.contentDocument && f.contentDocument.readyState === 'complete'"
                        " && f.style.height !== ''",
                        arg=frame.element_handle(),
                    )
                    sizes[number] = frame.evaluate(
                        "f => [f.getBoundingClientRect().height,"
                        " f.contentDocument.documentElement.scrollHeight,"
                        " f.contentWindow.innerHeight]"
                    )
            finally:
                browser.close()
    finally:
        server.shutdown()
        desk.close()
    short, long_ = sizes[1], sizes[2]
    assert short[0] < 150, short  # not the 420 px box of before
    assert long_[0] > 1000, long_
    for height, content, inner in (short, long_):
        assert content <= inner + 1, (height, content, inner)  # nothing hidden below
    assert problems == []


def _serve(desk: Desk) -> BaseWSGIServer:
    server = make_server("127.0.0.1", free_port(), desk_app(desk), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_each_filter_counts_live_tickets_only(
    client: FlaskClient, team: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merged ticket lives on in the one it joined: no tab, tag or person counts it."""
    for n in range(1, 7):
        team.deliver(make_mail(message_id=f"m{n}@x.test", subject=f"Case {n}"))
    with team.db.transaction() as session:
        numbered = {t.number: t for t in session.scalars(select(Ticket))}
        bob = session.scalars(select(Agent).where(Agent.email == "bob@desk.test")).one()
        for n in (1, 2, 3, 4):
            session.add(TicketTag(ticket_id=numbered[n].id, tag="vip"))
        for n in (2, 5, 6):
            numbered[n].assignee_id = bob.id
        numbered[2].merged_into_id = numbered[1].id
        numbered[2].status = "closed"
    monkeypatch.setattr("echodesk.web.pages.PER_PAGE", 1)  # one a page: the pager shows
    sign_in(client, team)

    def total(query: dict[str, str]) -> int:
        page = client.get("/", query_string=query).get_data(as_text=True)
        found = re.search(r"· (\d+) tickets", page)
        assert found, query
        return int(found.group(1))

    assert total({}) == 5
    assert total({"tag": "vip"}) == 3
    assert total({"tag": "VIP", "status": "open"}) == 3
    assert total({"assignee": "bob@desk.test"}) == 2
    assert total({"status": "open"}) == 5
