"""Sign-in links are rate-limited: nobody can make Echo mail an agent link after link.

At most five links per address an hour and twenty requests per client an
hour; beyond that the form answers as before and nothing is sent or stored.
The counts are in the database, so two servers on one database share them.
All over real HTTP to ``echodesk web``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from echodesk.store import ratelimit
from echodesk.store.db import Database
from echodesk.store.models import SigninToken
from tests.support.desk import Desk
from tests.support.websignin import csrf, link_for, links_sent
from tests.web.webproc import Answer, WebServer

BOB, EVE = "bob@desk.test", "eve@desk.test"


@pytest.fixture
def server(team: Desk, tmp_path: Path) -> Iterator[WebServer]:
    web = WebServer(tmp_path, team.settings.database_url).start()
    try:
        yield web
    finally:
        web.stop()
    assert not web.errors_logged(), web.errors_logged()[-3000:]


def _tokens(db: Database) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(SigninToken)) or 0)


def _sent_page(answer: Answer) -> str:
    assert answer.status == 200, answer.text[:300]
    return answer.text


def test_twenty_requests_for_one_agent_mail_five_links(team: Desk, server: WebServer) -> None:
    attacker = server.client()
    pages = {_sent_page(attacker.ask_for_link(BOB)) for _ in range(20)}
    assert len(pages) == 1  # every answer the same: the limit shows nothing
    assert links_sent(team.db, BOB) == 5
    assert _tokens(team.db) == 5  # nothing stored for the refused requests
    # Another agent is another address: Eve still gets her link (from another client).
    assert _sent_page(server.client("127.0.0.2").ask_for_link(EVE)) in pages
    assert links_sent(team.db, EVE) == 1
    # Bob's address is spent for the hour, whoever asks.
    server.client("127.0.0.3").ask_for_link(BOB)
    assert links_sent(team.db, BOB) == 5


def test_the_last_link_within_the_limit_still_signs_in(team: Desk, server: WebServer) -> None:
    attacker = server.client("127.0.0.2")
    for _ in range(5):
        attacker.ask_for_link(BOB)
    bob = server.client("127.0.0.3")
    bob.ask_for_link(BOB)  # over the limit: no sixth mail, and the links he has still work
    assert links_sent(team.db, BOB) == 5
    path = "/" + link_for(team.db, BOB).split("/", 3)[3]
    answer = bob.post_form(path, {"csrf": csrf(bob.get(path).text)})
    assert answer.status == 302
    assert bob.get("/").status == 200


def test_one_client_may_ask_twenty_times_an_hour(team: Desk, server: WebServer) -> None:
    prober = server.client("127.0.0.2")
    pages = {_sent_page(prober.ask_for_link(f"guess{n}@desk.test")) for n in range(20)}
    pages.add(_sent_page(prober.ask_for_link(BOB)))  # the 21st request: answered alike
    assert len(pages) == 1
    assert links_sent(team.db, BOB) == 0 and _tokens(team.db) == 0
    server.client("127.0.0.3").ask_for_link(BOB)  # someone else asking is not held back
    assert links_sent(team.db, BOB) == 1


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(team: Desk, tmp_path: Path) -> None:
    web = WebServer(
        tmp_path, team.settings.database_url, ECHODESK_WEB_TRUSTED_PROXIES="127.0.0.1"
    ).start()
    try:
        # A client naming itself afresh each time is still one client.
        spoofer = web.client("127.0.0.2")
        for n in range(20):
            spoofer.ask_for_link(f"guess{n}@desk.test", **{"X-Forwarded-For": f"10.0.0.{n}"})
        spoofer.ask_for_link(BOB, **{"X-Forwarded-For": "10.0.0.99"})
        assert links_sent(team.db, BOB) == 0
        # Through the proxy, each visitor is counted on their own.
        proxy = web.client("127.0.0.1")
        for n in range(20):
            proxy.ask_for_link(f"guess{n}@desk.test", **{"X-Forwarded-For": "203.0.113.7"})
        proxy.ask_for_link(BOB, **{"X-Forwarded-For": "203.0.113.7"})
        assert links_sent(team.db, BOB) == 0
        proxy.ask_for_link(BOB, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.8"})
        assert links_sent(team.db, BOB) == 1
    finally:
        web.stop()


def test_two_servers_on_one_database_share_the_limit(team: Desk, tmp_path: Path) -> None:
    url = team.settings.database_url
    first = WebServer(tmp_path, url, name="first").start()
    second = WebServer(tmp_path, url, name="second").start()
    try:
        for n in range(6):
            (first if n % 2 else second).client(f"127.0.0.{n + 2}").ask_for_link(BOB)
        assert links_sent(team.db, BOB) == 5
        # Sixteen at once, half to each server: still five, none lost to a race.
        clients = [(first if n % 2 else second).client(f"127.0.1.{n + 2}") for n in range(16)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda c: c.ask_for_link(EVE), clients))
        assert {a.status for a in answers} == {200}
        assert links_sent(team.db, EVE) == 5
    finally:
        first.stop()
        second.stop()
    assert not first.errors_logged() and not second.errors_logged()


def test_an_hour_is_any_sixty_minutes_not_the_clock_hour(db_url: str, tmp_path: Path) -> None:
    desk = Desk(db_url, tmp_path / "data")
    try:
        start = datetime(2026, 12, 1, 10, 58, tzinfo=UTC)
        with desk.db.transaction() as session:
            taken = [ratelimit.take(session, "k", 5, now=start) for _ in range(6)]
        assert taken == [True] * 5 + [False]

        def take_at(minutes: int) -> bool:
            with desk.db.transaction() as session:
                return ratelimit.take(session, "k", 5, now=start + timedelta(minutes=minutes))

        assert not take_at(4)  # 11:02: a new clock hour, the same sixty minutes
        assert not take_at(59)
        assert take_at(66)  # every one of the five is more than an hour old
        with desk.db.transaction() as session:
            assert ratelimit.take(session, "other key", 5, now=start + timedelta(minutes=1))
    finally:
        desk.close()
