"""Search against the brute force: every operator and combination, on both databases.

A seeded archive of about three thousand messages is written straight through
the store's multi-row writes (``writes.insert_messages`` indexes them as the
pipeline does), and the truth of each query is computed by
``tests/support/searchoracle.py``, which reads every row and cuts the words
the same way. Each query must give exactly the oracle's tickets, counted
exactly (or, where a count stopped early, as a lower bound no smaller than
what the pages showed); walking the pages by cursor, forwards and back, at 1,
7 and 25 a page, must show each result once. The plans are forced three ways
(as the budgets choose on this small archive, every ranked, every walked) so
that each way of answering meets the same truth.
"""

# Fifty words are read more easily as text to split than as a list literal.
# ruff: noqa: SIM905

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from echodesk.statuses import STATUSES
from echodesk.store import search as search_module
from echodesk.store import writes
from echodesk.store.db import Database
from echodesk.store.migrate import upgrade
from echodesk.store.models import Agent, Rating, Ticket, TicketSla
from echodesk.store.search import Results, search
from echodesk.store.searchquery import SearchError, decode_cursor, parse
from tests.support.postgres import PgCluster
from tests.support.searchoracle import Oracle

SEED = 7
TICKETS = 1100
ME = "lena@desk.test"
BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime.now(UTC)

WORDS = (
    "the please printer order error account toner login refund invoice paper jam "
    "cartridge password reset delivery screen update broken again still works "
    "billing shipping label address customer manager office laptop phone mobile "
    "cable router network slow crash sync backup export report monthly refunded "
    "refunding printing printed grüße köln straße müller über kerberos zebra quokka"
).split()
PHRASES = ("paper jam", "toner cartridge", "password reset", "printer error", "the printer")
FIRST = ("Alice", "Bob", "Carol", "Dan", "Élodie", "Jürgen", "Ölaf", "Zoë", "Theo", "Mia")
LAST = ("Smith", "Printer", "Öberg", "Müller", "Jones", "Lefèvre", "Brown", "Kerr")
DOMAINS = ("acme.example", "acmecorp.example", "mail.example", "printworks.example", "x.test")
TAGS = ("billing", "hardware", "urgent", "vip", "printer", "zebra")
FILES = ("invoice-2026.pdf", "screenshot.png", "Drucker Fehler.jpg", "toner.csv", "report.xlsx")
AGENTS = (("Lena Agent", ME), ("Bob Agent", "bob@desk.test"), ("Zoë Ägent", "zoe@desk.test"))


# -- the archive ---------------------------------------------------------------------------


def _text(rnd: random.Random, low: int, high: int) -> str:
    weights = [1.0 / (i + 1) for i in range(len(WORDS))]
    chosen = rnd.choices(WORDS, weights, k=rnd.randint(low, high))
    if rnd.random() < 0.3:
        chosen.insert(rnd.randrange(len(chosen) + 1), rnd.choice(PHRASES))
    if rnd.random() < 0.05:
        chosen.append(f"ORD-{rnd.choice((4711, 4712, 815))}")
    text = " ".join(chosen)
    return text[0].upper() + text[1:] + "."


def _people(rnd: random.Random) -> list[tuple[str, str]]:
    people = []
    for n in range(160):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        local = f"{first}.{last}{n}".lower().encode("ascii", "ignore").decode()
        people.append((f"{local}@{rnd.choice(DOMAINS)}", f"{first} {last}"))
    return people


def _ticket(rnd: random.Random, number: int, person: tuple[str, str], agents: list[int]) -> Any:
    status = rnd.choice(STATUSES)
    created = BASE + timedelta(hours=rnd.randint(0, 2000))
    updated = created + timedelta(hours=rnd.choice((0, 0, 1, 24, 300)))  # many ties
    subject = rnd.choice(("Printer", "Printer toner", "Help", "")) or _text(rnd, 1, 4)
    return {
        "number": number,
        "customer_id": person[0],
        "assignee_id": rnd.choice([None, *agents]),
        "status": status,
        "subject": subject,
        "created_at": created,
        "updated_at": updated,
        "status_changed_at": updated,
    }


def _message(rnd: random.Random, n: int, ticket: dict[str, Any], who: tuple[str, str]) -> Any:
    inbound = n == 0 or rnd.random() < 0.5
    sender = who if inbound else rnd.choice(AGENTS)[::-1]
    body = " ".join(_text(rnd, 3, 18) for _ in range(rnd.randint(1, 3)))
    return {
        "ticket_id": None,
        "direction": "inbound" if inbound else "outbound",
        "kind": "customer" if inbound else "reply",
        "message_id": f"<{ticket['number']}.{n}.{rnd.getrandbits(32):x}@t.test>",
        "from_email": sender[0],
        "from_name": sender[1] if rnd.random() < 0.9 else "",
        "to_addrs": ["support@desk.test"] if inbound else [who[0]],
        "cc_addrs": [f"boss@{rnd.choice(DOMAINS)}"] if rnd.random() < 0.1 else [],
        "subject": ticket["subject"] if n == 0 else f"Re: {ticket['subject']}",
        "body_text": body,
        "created_at": ticket["created_at"] + timedelta(minutes=n),
    }


def _files(rnd: random.Random) -> list[dict[str, Any]]:
    if rnd.random() >= 0.08:
        return []
    return [
        {
            "filename": rnd.choice(FILES),
            "content_type": "application/octet-stream",
            "size": 10,
            "sha256": f"{rnd.getrandbits(256):064x}",
            "storage_key": "",
            "erased_at": NOW if rnd.random() < 0.15 else None,
        }
        for _ in range(rnd.randint(1, 2))
    ]


def build(db: Database) -> None:
    """The seeded archive: tickets, their messages and files, tags, ratings, SLA rows;
    a few tickets merged into others (their messages moved, their tags kept)."""
    rnd = random.Random(SEED)
    with db.transaction() as session:
        writes.insert_rows(session, Agent, [{"email": e, "name": n} for n, e in AGENTS])
        agents = [a.id for a in session.query(Agent).order_by(Agent.id)]
        people = _people(rnd)
        ids = writes.upsert_customers(session, {e: (n, BASE) for e, n in people})
        numbers = writes.allocate_numbers(session, TICKETS)
        rows = [_ticket(rnd, n, rnd.choice(people), agents) for n in numbers]
        owners = [r["customer_id"] for r in rows]
        for r in rows:
            r["customer_id"] = ids[r["customer_id"]]
        tickets = list(
            session.scalars(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), rows)
        )
        _write_messages(session, rnd, tickets, rows, owners, people)
        _write_extras(session, rnd, tickets)


def _write_messages(
    session: Session,
    rnd: random.Random,
    tickets: list[int],
    rows: list[dict[str, Any]],
    owners: list[str],
    people: list[tuple[str, str]],
) -> None:
    names = dict(people)
    messages, files, merged = [], [], []
    for i, (tid, row) in enumerate(zip(tickets, rows, strict=True)):
        if i and rnd.random() < 0.02:  # merged into the ticket before it: no messages left
            merged.append({"b_id": tid, "merged_into_id": tickets[i - 1], "status": "closed"})
            continue
        for n in range(rnd.choice((1, 1, 2, 3, 4, 6))):
            message = _message(rnd, n, row, (owners[i], names[owners[i]]))
            message["ticket_id"] = tid
            messages.append(message)
            files.append(_files(rnd))
    writes.update_by_id(session, Ticket, merged)
    for n, body in enumerate(("The first half: splitone.", "And then splittwo.")):
        split = _message(rnd, 10 + n, rows[0], (owners[0], names[owners[0]]))
        messages.append(dict(split, ticket_id=tickets[0], body_text=body, subject="Split"))
        files.append([])
    indexed = [[f["filename"] for f in fs if f["erased_at"] is None] for fs in files]
    pks = writes.insert_messages(session, messages, indexed)
    attached = [dict(f, message_pk=pk) for pk, fs in zip(pks, files, strict=True) for f in fs]
    writes.insert_attachments(session, attached)


def _write_extras(session: Session, rnd: random.Random, tickets: list[int]) -> None:
    tags = [{"ticket_id": t, "tag": tag} for t in tickets for tag in TAGS if rnd.random() < 0.12]
    writes.insert_tags(session, tags)
    ratings = [
        {
            "ticket_id": t,
            "rating": rnd.choice(("good", "okay", "bad")),
            "rated_at": NOW,
            "changed_at": NOW,
        }
        for t in tickets
        if rnd.random() < 0.15
    ]
    writes.insert_rows(session, Rating, ratings)
    sla = []
    for t in tickets:
        if rnd.random() < 0.2:
            due = NOW + timedelta(hours=rnd.choice((-48, -1, 1, 5, 72)))  # never at "now"
            stage = 2 if rnd.random() < 0.2 else 0
            sla.append(
                {"ticket_id": t, "policy": "p", "response_due": due, "response_stage": stage}
            )
    writes.insert_rows(session, TicketSla, sla)


# -- the queries ---------------------------------------------------------------------------

QUERIES = [
    # single words, common to rare, and what a free word also names
    "the", "printer", "toner", "refund", "kerberos", "quokka", "zebra", "PRINTER",
    "grüße", "straße", "über", "öberg", "müller", "élodie", "acme", "x.test",
    "0042", "TKT-0017", "4711", "ORD-4711", "ord",
    # two or more words, ANDed within the ticket
    "printer toner", "the printer", "paper jam", "refund invoice", "toner kerberos",
    "printer toner paper", "login password reset",
    # phrases and prefixes
    '"paper jam"', '"jam paper"', '"toner cartridge"', '"the printer"', '"printer error"',
    "print*", "refund*", "ref*", '"paper ja"*', "zeb*", "p*",
    # negation and OR
    "printer -toner", "the -printer", "-the", "-zebra", "toner -kerberos -quokka",
    "refund OR kerberos", "toner OR quokka OR zebra", "printer OR toner paper",
    "printer -toner OR refund", "kerberos OR -the",
    # fields
    "from:acme.example", "from:acme", "from:müller", 'from:"lena agent"', "from:lena*",
    "to:support@desk.test", "to:boss", "subject:printer", 'subject:"printer toner"',
    "subject:help", "customer:acme", "customer:öberg", "customer:ölaf", "customer:x.test",
    "-customer:acme printer",
    # filters
    "status:open", "status:closed", "-status:closed", "tag:billing", "tag:zebra",
    "zebra -tag:zebra",
    "assignee:me", "assignee:none", "assignee:zoë", "assignee:bob", "is:unassigned",
    "has:attachment", "-has:attachment toner", "before:2026-04-01", "after:2026-05-15",
    "after:2026-04-01 before:2026-05-01", "sla:breached", "sla:due<2h", "sla:due<3d",
    "rating:bad", "rating:good printer",
    # attachments' names are words
    "screenshot", "screenshot.png", "drucker", "invoice 2026", "toner.csv",
    # combinations
    "printer status:open", "the status:pending", "toner from:acme.example",
    "printer toner status:closed -paper", "refund assignee:me", "paper jam has:attachment",
    "kerberos the -zebra", "printer tag:printer", "billing", "printer OR billing status:open",
    "the after:2026-04-15 -toner", "customer:acme refund OR toner",
    # nothing, or nothing left
    "nosuchword", "the -the", "kerberos quokka zebra nosuchword", "", "*", "splitone splittwo",
]  # fmt: skip

#: Paged through at 1, 7 and 25 a page (each while it takes at most 60 pages).
PAGED = [
    "zebra status:open",
    "toner -paper status:pending",
    "the -printer",
    "printer toner status:closed -paper",
    "tag:billing",
    "sla:breached",
    "quokka",
    "kerberos OR -the",
    "the",
]

CONFIGS = {
    "planned": {},  # as the budgets choose on this archive
    "ranked": {"rank_limit": 10**9, "set_limit": 10**9, "set_ms": 1e9},
    "walked": {"rank_limit": -1, "set_limit": -1, "word_limit": -1, "count_ms": 0.0},
    # newest first, every walk replaced by the tickets whose words hold every clause's
    # (PostgreSQL's ticket_words; on SQLite a walk)
    "worded": {"rank_limit": -1, "set_limit": 10**9, "word_limit": 10**9, "set_ms": -1.0},
    # walked, every word tested ticket by ticket (PostgreSQL: on the ticket's words)
    "probed": {
        "rank_limit": -1,
        "set_limit": -1,
        "word_limit": -1,
        "count_ms": 0.0,
        "probe_us": 1e-6,
    },
    # the same with small limits: a set read stops past its limit and is not taken
    "limited": {"rank_limit": -1, "set_limit": 40, "word_limit": 40, "set_ms": -1.0},
}


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archive(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Oracle]]:
    """The archive on each database, with the oracle's reading of it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('oracle') / 'search.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database("search_oracle")
    db = Database(url)
    try:
        upgrade(db)
        build(db)
        if db.is_postgres:  # the planner's statistics, as autovacuum would keep them
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("ANALYZE")
        with db.reading() as session:
            oracle = Oracle(session, QUERIES, me=ME)
        yield db, oracle
    finally:
        db.dispose()
        if request.param == "postgresql":
            request.getfixturevalue("pg_cluster").drop_database("search_oracle")


@pytest.fixture(params=list(CONFIGS))
def budgets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for dialect, budget in search_module.BUDGETS.items():
        forced = replace(budget, **CONFIGS[request.param])
        monkeypatch.setitem(search_module.BUDGETS, dialect, forced)
    return str(request.param)


def _walk(session: Session, query: str, limit: int) -> tuple[list[int], Results]:
    """Every result, page after page by cursor; and the first page."""
    seen: list[int] = []
    first = page = search(session, query, limit=limit, me=ME)
    while True:
        seen += [h.ticket_id for h in page.hits]
        assert page.position + len(page.hits) == len(seen)
        if page.next is None:
            return seen, first
        page = search(session, query, limit=limit, cursor=page.next, me=ME)


# -- the tests -------------------------------------------------------------------------------


def test_every_query_finds_exactly_the_oracles_tickets_and_counts_them(
    archive: tuple[Database, Oracle], budgets: str
) -> None:
    db, oracle = archive
    wrong = []
    with db.reading() as session:
        for query in QUERIES:
            truth = oracle.select(query)
            seen, first = _walk(session, query, 400)
            total = first.total
            counted = total == len(truth) if not first.capped else len(seen) >= total >= 1
            if sorted(seen) != sorted(truth) or not counted or len(seen) != len(set(seen)):
                wrong.append((query, len(truth), len(set(seen)), total, first.capped))
    assert not wrong, f"({budgets}) query, truth, found, total, capped: {wrong}"


@pytest.mark.parametrize("limit", [1, 7, 25])
def test_paging_shows_each_result_once_forwards_and_back(
    archive: tuple[Database, Oracle], budgets: str, limit: int
) -> None:
    db, oracle = archive
    with db.reading() as session:
        for query in PAGED:
            truth = oracle.select(query)
            if len(truth) > 60 * limit:
                continue  # hundreds of pages: the walks at larger pages cover these
            seen, first = _walk(session, query, limit)
            assert len(seen) == len(set(seen)) and set(seen) == truth, (query, limit)
            assert first.order == search(session, query, limit=1, me=ME).order
            _walk_back(session, query, limit, seen)


def _walk_back(session: Session, query: str, limit: int, forward: list[int]) -> None:
    """From the last page, the previous pages give the same rows in the same order."""
    page = search(session, query, limit=limit, me=ME)
    while page.next is not None:
        page = search(session, query, limit=limit, cursor=page.next, me=ME)
    pages = [[h.ticket_id for h in page.hits]]
    while page.previous is not None:
        page = search(session, query, limit=limit, cursor=page.previous, me=ME)
        pages.insert(0, [h.ticket_id for h in page.hits])
    assert [t for p in pages for t in p] == forward, (query, limit)
    assert page.position == 0


def test_a_page_after_the_last_is_empty_and_says_whether_it_counted(
    archive: tuple[Database, Oracle], budgets: str
) -> None:
    db, oracle = archive
    with db.reading() as session:
        for query in ("printer", "the", "status:open", "kerberos"):
            truth = oracle.select(query)
            every, first = _walk(session, query, 1000)
            last = search(session, query, limit=1000, me=ME)
            while last.next is not None:
                last = search(session, query, limit=1000, cursor=last.next, me=ME)
            assert every and not last.next and last.total == len(truth)
            assert not last.capped  # the walk reached the end: it counted everything
            # The first page of a walked search may stop counting, and says so, but
            # never shows fewer than it found, nor 0 when there is a match.
            assert first.total >= min(len(truth), len(first.hits)) >= 1
            if first.capped:
                assert first.next is not None and first.total < len(truth) + 1


def test_and_holds_within_the_ticket_not_within_a_message(
    archive: tuple[Database, Oracle],
) -> None:
    """The first ticket has "splitone" in one message and "splittwo" in another: both
    words match it, the phrase of the two does not."""
    db, oracle = archive
    with db.reading() as session:
        (hit,) = search(session, "splitone splittwo", me=ME).hits
        assert hit.number == 1 and oracle.select("splitone splittwo") == {hit.ticket_id}
        assert search(session, '"splitone splittwo"', me=ME).hits == []
        assert search(session, "splitone -splittwo", me=ME).total == 0


def test_a_damaged_forged_or_foreign_cursor_is_a_clear_error(
    archive: tuple[Database, Oracle],
) -> None:
    db, _ = archive
    with db.reading() as session:
        good = search(session, "printer", limit=5, me=ME).next
        assert good is not None
        decode_cursor(good, parse("printer"))
        for bad in (good[:-2], good + "A", "x" * 1000, "!!", good.swapcase(), "e30"):
            with pytest.raises(SearchError, match="page link"):
                search(session, "printer", limit=5, cursor=bad, me=ME)
        with pytest.raises(SearchError, match="another search"):
            search(session, "toner", limit=5, cursor=good, me=ME)


def _rescans(node: dict[str, Any], inside: str = "") -> list[str]:
    """Sub-plans that read messages other than the tested ticket's own (those not
    hashed, which the plan's text says, PostgreSQL runs again for every ticket)."""
    found = []
    if node.get("Parent Relationship") == "SubPlan":
        inside = str(node.get("Subplan Name", ""))
    tested = f"{node.get('Index Cond', '')} {node.get('Filter', '')}"
    own = re.search(r"ticket_id = t(_\d+)?\.id\b", tested) is not None  # the ticket's own
    if inside and node.get("Relation Name") == "messages" and not own:
        found.append(inside)
    for child in node.get("Plans", ()):
        found += _rescans(child, inside)
    return found


@pytest.mark.postgresql_only
def test_postgresql_never_reads_a_words_messages_again_for_each_ticket(
    archive: tuple[Database, Oracle], budgets: str
) -> None:
    """With little working memory (as on a large archive, where a word's tickets do not
    fit in it), a word tested as a set is still read once: a join, never a sub-plan run
    for each ticket (which took minutes at a million messages)."""
    db, _ = archive
    assert db.is_postgres
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _x: Any, _m: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.reading() as session:
            for query in QUERIES:
                _walk(session, query, 400)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    bad = []
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET work_mem = '64kB'")
        conn.exec_driver_sql("SET hash_mem_multiplier = 1")
        for statement, params in sent:
            if "search_vector" not in statement or statement.startswith("EXPLAIN"):
                continue
            plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar()
            found = json.loads(plan) if isinstance(plan, str) else plan
            whole = json.dumps(found)
            if [n for n in _rescans(found[0]["Plan"]) if f"hashed {n}" not in whole]:
                bad.append(" ".join(statement.split())[:300])
    assert not bad, f"({budgets}) read again per ticket: {bad}"
