"""Search benchmark: a generated archive, then a fixed mixed query set, timed.

What is measured, per backend (SQLite at 100,000 messages, PostgreSQL at
1,000,000 by default):

* building the archive: a seeded help-desk archive (``bench/searchgen.py``:
  customers on a few hundred domains, tickets of about 3 messages with
  statuses, tags and assignees, bodies from a Zipf-like vocabulary in six
  languages, attachments on about 10% of the messages, two years of dates)
  written straight into the database in batches of about 2,000 messages,
  one transaction each, through the application's own multi-row writes
  (``writes.upsert_customers``, ``allocate_numbers``, ``insert_tickets``,
  ``insert_messages``, ``insert_attachments``). ``insert_messages`` indexes
  every batch for search as the pipeline does (``searchindex.index_rows``:
  FTS5 rows on SQLite, ``UPDATE ... SET search_vector`` into the GIN index on
  PostgreSQL); the time spent inside ``index_rows`` is clocked separately
  and reported as the index build time. Then ``VACUUM (ANALYZE)`` and a
  ``CHECKPOINT`` on PostgreSQL (timed; the searches then meet a settled
  server, as a live archive is, not one still writing out the load); on
  SQLite the statistics the application keeps (``Database.keep_statistics``,
  which the worker runs as it goes and ``echodesk ingest`` after an import)
  and a WAL checkpoint.
* the index size: SQLite's FTS5 shadow tables from the ``dbstat`` table;
  PostgreSQL's GIN and trigram indexes (``pg_relation_size``) and the
  tsvector column (sum of ``pg_column_size``).
* search: the query set (words, phrases, prefixes, every field, negation,
  OR, dates and combinations; see :func:`query_set`) and a seeded mixed set of
  eight queries of each kind an operator types (:func:`mixed_set`: one common
  word, two ANDed, word and status, word and ``from:`` a domain, a phrase, a
  prefix, a word without another, two ORed, rare words), run once to warm up,
  then ``--repeat`` times, each run in one read session, timing every call of
  ``echodesk.store.search.search(session, query, limit=20, me=agent)``
  in-process (wall clock: the first page, its total and its snippets).
  Printed: each query's order, total (``+``: a lower bound) and median, p50/p95
  over all calls against the aims (p95 under 50 ms on SQLite at 100k, under 100
  ms on PostgreSQL at 1M), and the slowest queries. ``--explain`` adds the plans
  of the queries whose median misses the aim (EXPLAIN (ANALYZE, BUFFERS) on
  PostgreSQL, EXPLAIN QUERY PLAN on SQLite), captured from the statements
  ``search`` sends.
* recall: every page of each query (walked by cursor, as ``echodesk search
  --all`` does) against the brute force of ``tests/support/searchoracle.py``,
  which reads every message, cuts it into words as the index is fed, and tests
  every ticket against the documented meaning of the query: recall, precision,
  tickets shown twice, and whether the first page's total is right (exact, or
  a lower bound not above the truth); by kind of query, mean and lowest.
* the peak RSS of this process (it holds no more than one batch at a time).

PostgreSQL is a throw-away cluster from ``tests/support/postgres.py``
(fsync, synchronous_commit and full_page_writes off: load times are lower
than on a durable server, search times are not affected; its memory settings
are PostgreSQL's defaults, shared_buffers 128MB and work_mem 4MB, which do
affect search over a messages table of about 1.8 GB at 1M messages).

Run from the repository root (the default run takes about 20-25 minutes on
two cores, the brute force included)::

    .venv/bin/python bench/search.py [--sqlite-messages N] [--pg-messages N]
        [--only sqlite|postgresql] [--seed S] [--repeat R] [--explain] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import searchgen  # noqa: E402  (bench/ is not a package)
from sqlalchemy import event, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from echodesk.store import searchindex, writes  # noqa: E402
from echodesk.store.db import Database  # noqa: E402
from echodesk.store.migrate import upgrade  # noqa: E402
from echodesk.store.models import Agent, Ticket  # noqa: E402
from echodesk.store.search import search  # noqa: E402
from tests.support.searchoracle import Oracle  # noqa: E402

BACKENDS = ("sqlite", "postgresql")
AIM_P95_MS = {"sqlite": 50.0, "postgresql": 100.0}
BATCH_MESSAGES = 2000
MB = 1024 * 1024


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


# -- building the archive ---------------------------------------------------------------


@dataclass
class Build:
    backend: str
    messages: int
    tickets: int
    customers: int
    attachments: int
    with_attachments: int
    domains: int
    vocabulary: int
    statuses: dict[str, int]
    people_s: float  # agents and customers (writes.upsert_customers)
    generate_s: float  # Python making the ticket and message rows
    insert_s: float  # the writes of tickets, tags, messages, attachments; index excluded
    index_s: float  # inside searchindex.index_rows
    analyze_s: float  # VACUUM (ANALYZE) on PostgreSQL, the kept statistics on SQLite
    total_s: float
    sizes_mb: dict[str, float] = field(default_factory=dict)

    @property
    def index_mb(self) -> float:
        return self.sizes_mb.get("index", 0.0)


@contextmanager
def clocked_index(clock: list[float]) -> Iterator[None]:
    """Add the time spent indexing to ``clock[0]``.

    ``writes.insert_messages`` calls ``searchindex.index_rows`` (SQLite: FTS5
    rows after the insert) or ``searchindex.insert_indexed`` (PostgreSQL: the
    insert itself, with the tsvector computed in it) through the module, so
    wrapping the module attributes times the application's indexing of each
    batch; on PostgreSQL that clock therefore includes the messages' insert.
    """
    originals = {name: getattr(searchindex, name) for name in ("index_rows", "insert_indexed")}

    def clocked(original: Any) -> Any:
        def timed(*args: Any, **kw: Any) -> None:
            start = time.perf_counter()
            try:
                original(*args, **kw)
            finally:
                clock[0] += time.perf_counter() - start

        return timed

    for name, original in originals.items():
        setattr(searchindex, name, clocked(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(searchindex, name, original)


def load(db: Database, archive: searchgen.Archive, backend: str) -> Build:
    """Write the whole archive, a batch of about BATCH_MESSAGES messages per transaction."""
    started = time.perf_counter()
    index_clock = [0.0]
    generate = 0.0
    with db.transaction() as session:
        writes.insert_rows(
            session,
            Agent,
            [{"email": e, "name": n, "role": "ops", "active": True} for n, e in archive.agents],
        )
        found = session.execute(text("SELECT email, id FROM agents")).all()
        agent_by_email = {str(e): int(i) for e, i in found}
    agent_ids = [agent_by_email[e] for _, e in archive.agents]
    customer_ids: dict[str, int] = {}
    everyone = archive.people
    for start in range(0, len(everyone), 5000):
        with db.transaction() as session:
            chunk = {p.email: (p.name, searchgen.START) for p in everyone[start : start + 5000]}
            customer_ids.update(writes.upsert_customers(session, chunk))
    people_s = time.perf_counter() - started
    done, shown = 0, 0
    with clocked_index(index_clock):
        for count in archive.batches(BATCH_MESSAGES):
            with db.transaction() as session:
                numbers = writes.allocate_numbers(session, count)
                t0 = time.perf_counter()
                tickets = archive.render(numbers)
                generate += time.perf_counter() - t0
                done += _write_batch(session, tickets, customer_ids, agent_ids)
            if done - shown >= archive.total_messages // 10 or done == archive.total_messages:
                shown = done
                progress(
                    f"  {backend}: {done:,}/{archive.total_messages:,} messages "
                    f"({time.perf_counter() - started:.0f} s, index {index_clock[0]:.0f} s)"
                )
    analyze = 0.0
    if db.is_postgres:
        t0 = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            # Written out now, so that the searches meet a settled server (as a
            # live archive is), not one still flushing the load's dirty pages.
            conn.execute(text("CHECKPOINT"))
        analyze = time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        db.keep_statistics()
        analyze = time.perf_counter() - t0
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    total = time.perf_counter() - started
    facts = archive.facts
    return Build(
        backend=backend,
        messages=facts.messages,
        tickets=facts.tickets,
        customers=facts.customers,
        attachments=facts.attachments,
        with_attachments=facts.with_attachments,
        domains=facts.domains,
        vocabulary=facts.vocabulary,
        statuses=dict(sorted(facts.statuses.items())),
        people_s=people_s,
        generate_s=generate,
        insert_s=total - people_s - generate - index_clock[0] - analyze,
        index_s=index_clock[0],
        analyze_s=analyze,
        total_s=total,
    )


def _write_batch(
    session: Session,
    tickets: list[searchgen.TicketRows],
    customer_ids: dict[str, int],
    agent_ids: list[int],
) -> int:
    """One batch of tickets with their tags, messages and attachments; messages written."""
    for t in tickets:
        t.ticket["customer_id"] = customer_ids[t.ticket["customer_id"]]
        assignee = t.ticket["assignee_id"]
        t.ticket["assignee_id"] = None if assignee is None else agent_ids[assignee]
    ids = list(
        session.scalars(
            insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True),
            [t.ticket for t in tickets],
        )
    )
    merged = []
    for i, t in enumerate(tickets):
        if t.merged:  # an empty shell: merged into the ticket before (or after) it
            target = ids[i - 1] if i else ids[1] if len(ids) > 1 else None
            if target is not None:
                merged.append({"b_id": ids[i], "merged_into_id": target, "status": "closed"})
    writes.update_by_id(session, Ticket, merged)
    writes.insert_tags(
        session,
        [
            {"ticket_id": tid, "tag": tag}
            for tid, t in zip(ids, tickets, strict=True)
            for tag in t.tags
        ],
    )
    rows: list[dict[str, Any]] = []
    files: list[list[dict[str, Any]]] = []
    for tid, t in zip(ids, tickets, strict=True):
        for message, attached in zip(t.messages, t.attachments, strict=True):
            message["ticket_id"] = tid
            if message["customer_id"] is not None:
                message["customer_id"] = customer_ids[message["customer_id"]]
            if message["agent_id"] is not None:
                message["agent_id"] = agent_ids[message["agent_id"]]
            rows.append(message)
            files.append(attached)
    pks = writes.insert_messages(session, rows, [[a["filename"] for a in f] for f in files])
    attachments = []
    for pk, attached in zip(pks, files, strict=True):
        for a in attached:
            a["message_pk"] = pk
            attachments.append(a)
    writes.insert_attachments(session, attachments)
    return len(rows)


def sizes_sqlite(db: Database, path: Path) -> dict[str, float]:
    """MB of the FTS5 shadow tables (dbstat), the messages table and the file."""
    with db.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY name"
        ).all()
    by_name = {str(n): int(s) / MB for n, s in found}
    fts = {n: s for n, s in by_name.items() if n.startswith("message_fts")}
    content = fts.get("message_fts_content", 0.0)
    return {
        "index": sum(fts.values()) - content,  # inverted index, doc sizes, config
        "index_content_copy": content,  # FTS5 keeps its own copy of the indexed words
        **{f"fts: {n}": s for n, s in fts.items()},
        "messages table": by_name.get("messages", 0.0),
        "database file": path.stat().st_size / MB,
    }


def sizes_postgres(db: Database) -> dict[str, float]:
    """MB of the GIN and trigram indexes, the tsvector column and the messages relation."""
    queries = {
        "index": "SELECT pg_relation_size('ix_messages_search_vector')",
        "tsvector column": "SELECT sum(pg_column_size(search_vector)) FROM messages",
        "trgm: customers.email": "SELECT pg_relation_size('ix_customers_email_trgm')",
        "trgm: customers.display_name": (
            "SELECT pg_relation_size('ix_customers_display_name_trgm')"
        ),
        "trgm: attachments.filename": "SELECT pg_relation_size('ix_attachments_filename_trgm')",
        "messages heap": "SELECT pg_relation_size('messages')",
        "messages total (heap, TOAST, indexes)": "SELECT pg_total_relation_size('messages')",
        "database": "SELECT pg_database_size(current_database())",
    }
    with db.engine.connect() as conn:
        return {k: int(conn.execute(text(q)).scalar_one() or 0) / MB for k, q in queries.items()}


# -- the queries ----------------------------------------------------------------------


def query_set(facts: searchgen.Facts) -> list[tuple[str, str]]:
    """(what it is, query): a help desk's everyday searches, named from the archive."""
    return [
        ("common word", "invoice"),
        ("very common word", "error"),
        ("rare word", "kerberos"),
        ("two words (AND)", "printer toner"),
        ("phrase", '"paper jam"'),
        ("prefix", "refun*"),
        ("from: an address", f"from:{facts.busy_customer}"),
        ("from: a freemail domain", "from:gmail.com"),
        ("customer: a company domain", f"customer:{facts.big_domain}"),
        ("subject:", "subject:invoice"),
        ("status:", "status:open"),
        ("tag:", "tag:billing"),
        ("assignee: an agent", "assignee:lena"),
        ("is:unassigned", "is:unassigned"),
        ("has:attachment", "has:attachment"),
        ("ticket number", f"TKT-{facts.ticket_number:04d}"),
        ("order number", facts.order_number),
        ("negation", "login -password"),
        ("OR", "refund OR chargeback"),
        ("before: a date", "before:2025-01-15"),
        ("after: a date", "after:2026-11-23"),
        ("word, status, negation", "printer status:open -toner"),
        ("word, has:, after:", "invoice has:attachment after:2026-06-01"),
        ("assignee:me, status", "assignee:me status:open"),
        ("subject: phrase, status", 'subject:"password reset" status:closed'),
        ("German word", "rückerstattung"),
        ("Russian word", "оплата"),
        ("file name", "screenshot.png"),
    ]


#: Words a customer or an agent writes often (the generator's most frequent filler,
#: and the topics' own words), phrases of the topic sentences, and prefixes.
COMMON = [
    *("the", "to", "and", "please", "help", "issue", "problem", "error", "account", "order"),
    *("invoice", "printer", "password", "login", "refund", "delivery", "update", "there"),
    *("still", "again", "working", "page"),
]
PHRASES = (
    "paper jam",
    "password reset",
    "toner cartridge",
    "tracking number",
    "firmware update",
    "log in",
    "the printer",
    "wrong amount",
    "order has not",
    "two factor",
)
PREFIXES = ("refun", "pass", "print", "deliv", "inv", "exp", "acc", "upd", "log", "ship")
STATUSES = ("open", "pending", "resolved", "closed")


def mixed_set(archive: searchgen.Archive, seed: int) -> list[tuple[str, str]]:
    """Eight seeded queries of each kind an operator types: one common word, two ANDed,
    a word and a status, a word from a domain, a phrase, a prefix, a word without
    another, two ORed, and rare words (from the far end of the generated vocabulary)."""
    rnd = random.Random(seed * 7919)
    domains = [*archive.companies[:12], "gmail.com", "web.de", "outlook.com", "yandex.ru"]
    tail = archive.vocab["en"][-400:]
    kinds: list[tuple[str, Callable[[], str]]] = [
        ("one common word", lambda: rnd.choice(COMMON)),
        ("two common words", lambda: " ".join(rnd.sample(COMMON, 2))),
        ("word + status", lambda: f"{rnd.choice(COMMON)} status:{rnd.choice(STATUSES)}"),
        ("word + from:domain", lambda: f"{rnd.choice(COMMON)} from:{rnd.choice(domains)}"),
        ("phrase", lambda: f'"{rnd.choice(PHRASES)}"'),
        ("prefix*", lambda: f"{rnd.choice(PREFIXES)}*"),
        ("word -negation", lambda: "{} -{}".format(*rnd.sample(COMMON, 2))),
        ("OR", lambda: "{} OR {}".format(*rnd.sample(COMMON + list(PHRASES[:3]), 2))),
        ("rare words", lambda: rnd.choice((rnd.choice(tail), "kerberos", "chargeback"))),
    ]
    found: list[tuple[str, str]] = []
    for label, make in kinds:
        chosen: list[str] = []
        while len(chosen) < 8:
            query = make()
            if query not in chosen:
                chosen.append(query)
        found += [(label, q) for q in chosen]
    return found


@dataclass
class Timing:
    label: str
    query: str
    total: int
    hits: int
    times_ms: list[float]
    capped: bool = False  # the first page's total is a lower bound
    order: str = ""
    truth: int = 0  # tickets the brute force selects
    found: int = 0  # distinct tickets every page together showed
    recall: float = 1.0
    precision: float = 1.0
    repeated: int = 0  # tickets shown on more than one page
    count_ok: bool = True  # exact and right, or a lower bound no larger than the truth

    @property
    def median_ms(self) -> float:
        return median(self.times_ms)


@dataclass
class Outcome:
    backend: str
    build: Build
    queries: list[Timing]
    p50_ms: float
    p95_ms: float
    max_ms: float
    aim_ms: float
    peak_rss_mb: float
    notes: list[str]
    plans: dict[str, list[str]] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.p95_ms < self.aim_ms


def run_queries(db: Database, queries: list[tuple[str, str]], repeat: int, me: str) -> list[Timing]:
    """A warm-up run, then ``repeat`` timed runs, one read session per run."""
    with db.reading() as session:
        first = [search(session, q, limit=20, me=me) for _, q in queries]
    timings = [
        Timing(label, q, r.total, len(r.hits), [], capped=r.capped, order=r.order)
        for (label, q), r in zip(queries, first, strict=True)
    ]
    for _ in range(repeat):
        with db.reading() as session:
            for timing in timings:
                start = time.perf_counter()
                search(session, timing.query, limit=20, me=me)
                timing.times_ms.append((time.perf_counter() - start) * 1000)
    return timings


def every_result(session: Session, query: str, me: str) -> list[int]:
    """Every ticket a search shows, walking its pages by cursor (as ``search --all``)."""
    seen: list[int] = []
    cursor = None
    while True:
        page = search(session, query, limit=2000, cursor=cursor, me=me)
        seen += [h.ticket_id for h in page.hits]
        cursor = page.next
        if cursor is None:
            return seen


def measure_recall(db: Database, timings: list[Timing], me: str) -> float:
    """Each query's results, every page of them, against the brute force
    (``tests/support/searchoracle.py``: every message read and cut into words as the
    index is fed, every ticket tested); seconds the brute force took."""
    started = time.perf_counter()
    with db.reading() as session:
        oracle = Oracle(session, [t.query for t in timings], me=me)
    took = time.perf_counter() - started
    with db.reading() as session:
        for t in timings:
            truth = oracle.select(t.query)
            seen = every_result(session, t.query, me)
            found = set(seen)
            t.truth, t.found, t.repeated = len(truth), len(found), len(seen) - len(found)
            t.recall = len(found & truth) / len(truth) if truth else float(not found)
            t.precision = len(found & truth) / len(found) if found else float(not truth)
            t.count_ok = t.total == len(truth) if not t.capped else 0 < t.total <= len(truth)
    return took


def explain(db: Database, query: str, me: str) -> list[str]:
    """The plans of the statements one search sends (captured as the driver gets them)."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.reading() as session:
            search(session, query, limit=20, me=me)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db.is_postgres else "EXPLAIN QUERY PLAN "
    out: list[str] = []
    with db.engine.connect() as conn:
        for statement, params in sent:
            out.append(f"-- {' '.join(statement.split())[:2000]}")
            out.append(f"-- params: {params}")
            rows = conn.exec_driver_sql(prefix + statement, params).all()
            if db.is_postgres:
                out += [str(r[0]) for r in rows]
            else:
                out += [f"{'  ' * int(r[1] != 0)}{r[-1]}  (id {r[0]}, parent {r[1]})" for r in rows]
    return out


def bench(
    backend: str,
    url: str,
    messages: int,
    seed: int,
    repeat: int,
    want_plans: bool,
    notes: list[str],
    path: Path | None = None,
) -> Outcome:
    progress(f"{backend}: generating and loading {messages:,} messages")
    db = Database(url)
    try:
        upgrade(db)
        archive = searchgen.Archive(messages, seed)
        build = load(db, archive, backend)
        build.sizes_mb = sizes_postgres(db) if db.is_postgres else sizes_sqlite(db, path or Path())
        queries = query_set(archive.facts) + mixed_set(archive, seed)
        me = archive.agents[0][1]
        progress(f"{backend}: {len(queries)} queries, 1 warm-up + {repeat} timed runs")
        timings = run_queries(db, queries, repeat, me)
        progress(f"{backend}: recall against the brute force (every message read)")
        oracle_s = measure_recall(db, timings, me)
        notes = [*notes, f"brute force: {oracle_s:.0f} s to read and test every message"]
        every = [t for q in timings for t in q.times_ms]
        aim = AIM_P95_MS[backend]
        outcome = Outcome(
            backend=backend,
            build=build,
            queries=timings,
            p50_ms=searchgen.quantile(every, 0.50),
            p95_ms=searchgen.quantile(every, 0.95),
            max_ms=max(every),
            aim_ms=aim,
            peak_rss_mb=peak_rss_mb(),
            notes=notes,
        )
        if want_plans:
            for t in timings:
                if t.median_ms >= aim:
                    outcome.plans[t.query] = explain(db, t.query, me)
        return outcome
    finally:
        db.dispose()


def bench_sqlite(work: Path, messages: int, seed: int, repeat: int, plans: bool) -> Outcome:
    path = work / "search.db"
    notes = [
        "SQLite file in a temp dir, WAL, synchronous=NORMAL (echodesk's own pragmas); "
        "no ANALYZE (the application runs none)",
    ]
    return bench("sqlite", f"sqlite:///{path}", messages, seed, repeat, plans, notes, path)


def bench_postgresql(messages: int, seed: int, repeat: int, plans: bool) -> Outcome:
    """The same against a throw-away cluster (tests/support/postgres.py), stopped at the end."""
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        settings = {
            name: cluster.psql(f"SHOW {name}").strip()
            for name in (
                "server_version",
                "fsync",
                "synchronous_commit",
                "full_page_writes",
                "shared_buffers",
                "work_mem",
            )
        }
        notes = [
            "throw-away local cluster (tests/support/postgres.py): "
            + ", ".join(f"{k}={v}" for k, v in settings.items()),
            "after loading: VACUUM (ANALYZE) and CHECKPOINT (the 'analyze s' column)",
        ]
        url = cluster.create_database("search_bench")
        return bench("postgresql", url, messages, seed, repeat, plans, notes)
    finally:
        cluster.stop()


# -- output -----------------------------------------------------------------------------


def table(head: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """An aligned table: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i < left else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


def print_builds(outcomes: list[Outcome]) -> None:
    print(
        "archive build (seconds of wall clock; 'insert' is the writes of tickets, tags, "
        "messages and attachments, the indexing left out)\n"
    )
    head = (
        "backend",
        "messages",
        "tickets",
        "customers",
        "domains",
        "attachments",
        "customers s",
        "generate s",
        "insert s",
        "index s",
        "analyze s",
        "total s",
        "msg/s",
    )
    rows = [
        (
            o.backend,
            f"{b.messages:,}",
            f"{b.tickets:,}",
            f"{b.customers:,}",
            str(b.domains),
            f"{b.attachments:,}",
            f"{b.people_s:.1f}",
            f"{b.generate_s:.1f}",
            f"{b.insert_s:.1f}",
            f"{b.index_s:.1f}",
            f"{b.analyze_s:.1f}",
            f"{b.total_s:.1f}",
            f"{b.messages / b.total_s:,.0f}",
        )
        for o in outcomes
        for b in [o.build]
    ]
    table(head, rows)
    for o in outcomes:
        b = o.build
        statuses = ", ".join(f"{k} {v:,}" for k, v in b.statuses.items())
        share = 100 * b.with_attachments / max(1, b.messages)
        print(
            f"\n{o.backend}: vocabulary {b.vocabulary:,} words; tickets {statuses}; "
            f"{b.with_attachments:,} messages ({share:.1f}%) with attachments"
        )
        print("  sizes (MB):")
        for name, mb in b.sizes_mb.items():
            print(f"    {name:<40} {mb:10.1f}")


def print_queries(outcome: Outcome) -> None:
    n = len(outcome.queries[0].times_ms)
    print(
        f"\n{outcome.backend}, {outcome.build.messages:,} messages: "
        f"ms per search() call (the first page of 20 with its total), {n} timed runs "
        "after a warm-up; recall and precision of every page together against the "
        "brute force; 'total' is the first page's ('+': a lower bound), 'truth' the brute "
        "force's; 'count' is = (exact and right), >= (a lower bound, not above the truth) "
        "or WRONG\n"
    )
    head = (
        *("#", "what", "query", "order", "total", "truth", "count", "recall", "precision"),
        *("median ms", "min ms", "max ms"),
    )
    rows = [
        (
            str(i),
            t.label,
            t.query,
            t.order,
            f"{t.total:,}{'+' if t.capped else ''}",
            f"{t.truth:,}",
            ("WRONG" if not t.count_ok else ">=" if t.capped else "=")
            + (f" ({t.repeated} shown twice)" if t.repeated else ""),
            f"{t.recall:.3f}",
            f"{t.precision:.3f}",
            f"{t.median_ms:.1f}",
            f"{min(t.times_ms):.1f}",
            f"{max(t.times_ms):.1f}",
        )
        for i, t in enumerate(outcome.queries, 1)
    ]
    table(head, rows, left=4)
    print_recall(outcome)
    print_slowest(outcome)


def print_recall(outcome: Outcome) -> None:
    """Recall by kind of query (mean and lowest), as the issue measured it."""
    print(f"\n{outcome.backend}: recall and latency by kind of query\n")
    kinds: dict[str, list[Timing]] = {}
    for t in outcome.queries:
        kinds.setdefault(t.label, []).append(t)
    head = ("what", "queries", "mean recall", "min recall", "counts right", "median ms", "max ms")
    rows = [
        (
            label,
            str(len(ts)),
            f"{sum(t.recall for t in ts) / len(ts):.3f}",
            f"{min(t.recall for t in ts):.3f}",
            f"{sum(t.count_ok for t in ts)}/{len(ts)}",
            f"{median(t.median_ms for t in ts):.1f}",
            f"{max(t.median_ms for t in ts):.1f}",
        )
        for label, ts in kinds.items()
        if len(ts) > 1
    ]
    every = outcome.queries
    rows.append(
        (
            "every query",
            str(len(every)),
            f"{sum(t.recall for t in every) / len(every):.3f}",
            f"{min(t.recall for t in every):.3f}",
            f"{sum(t.count_ok for t in every)}/{len(every)}",
            f"{median(t.median_ms for t in every):.1f}",
            f"{max(t.median_ms for t in every):.1f}",
        )
    )
    table(head, rows)


def print_slowest(outcome: Outcome, shown: int = 10) -> None:
    """The slowest queries, with what they cost: their order, and whether counted."""
    print(f"\n{outcome.backend}: the {shown} slowest queries (median)\n")
    slowest = sorted(outcome.queries, key=lambda t: t.median_ms, reverse=True)[:shown]
    head = ("query", "median ms", "max ms", "order", "results", "counted")
    rows = [
        (
            t.query,
            f"{t.median_ms:.1f}",
            f"{max(t.times_ms):.1f}",
            t.order,
            f"{t.truth:,}",
            "lower bound" if t.capped else "exactly",
        )
        for t in slowest
    ]
    table(head, rows)


def print_summary(outcomes: list[Outcome]) -> None:
    print("\nall calls\n")
    head = ("backend", "messages", "calls", "p50 ms", "p95 ms", "max ms", "aim: p95 <", "")
    rows = [
        (
            o.backend,
            f"{o.build.messages:,}",
            str(sum(len(t.times_ms) for t in o.queries)),
            f"{o.p50_ms:.1f}",
            f"{o.p95_ms:.1f}",
            f"{o.max_ms:.1f}",
            f"{o.aim_ms:.0f} ms",
            "met" if o.met else "MISSED",
        )
        for o in outcomes
    ]
    table(head, rows)
    print("\nnotes:")
    for o in outcomes:
        for note in o.notes:
            print(f"  {o.backend}: {note}")
        over = [t for t in o.queries if t.median_ms >= o.aim_ms]
        if over:
            listed = "; ".join(f"{t.query} ({t.median_ms:.0f} ms)" for t in over)
            print(f"  {o.backend}: queries with a median over {o.aim_ms:.0f} ms: {listed}")
        print(f"  {o.backend}: peak RSS of this process so far: {o.peak_rss_mb:.0f} MB")
    print(
        "  messages are written with writes.insert_messages (batches of about "
        f"{BATCH_MESSAGES:,} messages, one transaction each),\n"
        "  which indexes each batch with searchindex.index_rows; 'index s' is the time inside "
        "index_rows.\n"
        "  SQLite index size: FTS5 shadow tables from dbstat (message_fts_content, FTS5's copy "
        "of the indexed words, shown apart);\n"
        "  PostgreSQL: pg_relation_size of the GIN index; the tsvector column is the sum of "
        "pg_column_size(search_vector).\n"
        "  Times are in-process wall clock of search() (the count, the page and the snippets); "
        "p50/p95 over every timed call."
    )


def print_plans(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        for query, lines in o.plans.items():
            print(f"\n{o.backend}: plan of {query!r}")
            for line in lines:
                print(f"  {line}")


def as_json(outcomes: list[Outcome], seed: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed, "repeat": repeat, "results": []}
    for o in outcomes:
        item = asdict(o)
        item["met"] = o.met
        for q, t in zip(item["queries"], o.queries, strict=True):
            q["median_ms"] = t.median_ms
        out["results"].append(item)
    return out


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sqlite-messages", type=int, default=100_000)
    parser.add_argument("--pg-messages", type=int, default=1_000_000)
    parser.add_argument("--only", choices=BACKENDS, help="run one backend only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed runs of the query set (after one warm-up)"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print the plans of queries over the aim"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="echodesk-search-"))
    runs: list[Callable[[], Outcome]] = []
    if args.only in (None, "sqlite"):
        runs.append(
            lambda: bench_sqlite(work, args.sqlite_messages, args.seed, args.repeat, args.explain)
        )
    if args.only in (None, "postgresql"):
        runs.append(
            lambda: bench_postgresql(args.pg_messages, args.seed, args.repeat, args.explain)
        )
    try:
        outcomes = [run() for run in runs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"search benchmark, seed {args.seed}, {time.perf_counter() - started:.0f} s in all\n")
    print_builds(outcomes)
    for outcome in outcomes:
        print_queries(outcome)
    print_summary(outcomes)
    print_plans(outcomes)
    if args.json:
        print(json.dumps(as_json(outcomes, args.seed, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
