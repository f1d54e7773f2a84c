"""Side-by-side ingest runs for ``bench/ingest.py``: ``--prefill N`` and ``--vs-floor``.

The machine is shared, so every comparison is made in one run, its two sides
interleaved (A, B, A, B, ...) and each side's median taken:

* ``--prefill N``: the same generated Maildir into an empty desk and into one
  already holding an archive of N messages: ``bench/searchgen.py``'s archive,
  written with the application's own multi-row writes by ``bench/search.py``'s
  loader, plus one processed spool row per inbound message and the References
  rows a real import leaves, then the statistics upkeep the import that built
  it would have run. Both desks have the archive's eight agents, one of whom
  is told of each new ticket (``notify_unassigned``, a triage inbox). Printed:
  messages/s into each, their ratio (aim >= 0.95), and the bytes each ingest
  process read and wrote (its own ``/proc/self/io``, reported at exit by a
  wrapper that runs the ``echodesk`` command in the same process); on
  PostgreSQL also what the server wrote (WAL bytes and data pages from a
  CHECKPOINT before to one after the run).
* ``--vs-floor``: ``echodesk ingest`` against ``bench/floor.py`` (stdlib
  parsing and one SQLite row per message in one transaction) on the same
  Maildir, whole processes (interpreter start included) timed alike. Printed:
  Echo's rate / the floor's (aims: SQLite >= 1.5, stretch 2; PostgreSQL >= 1.0)
  and Echo's peak RSS (aim < 100 MB).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import ingest as bench  # noqa: E402  (bench/ is not a package)
import mailgen  # noqa: E402
import search as search_bench  # noqa: E402
import searchgen  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from echodesk.store import migrate, writes  # noqa: E402
from echodesk.store.db import Database  # noqa: E402
from echodesk.store.models import Agent, InboundSpool, Message  # noqa: E402

if TYPE_CHECKING:
    from tests.support.postgres import PgCluster

PREFILL_AIM = 0.95
FLOOR_AIM = {"sqlite": 1.5, "postgresql": 1.0}
FLOOR_STRETCH = {"sqlite": 2.0}
RSS_AIM_MB = 100.0
MB = 1e6
#: The agent told of every new ticket in the pre-filled comparison (a triage inbox).
TRIAGE = f"{searchgen.AGENTS[0][1]}@{searchgen.DESK_DOMAIN}"

#: Runs a program in this very process, then writes its /proc/self/io where asked.
_WRAPPER = """
import atexit, os, runpy, sys
def _report():
    with open('/proc/self/io') as src, open(os.environ['BENCH_IO_FILE'], 'w') as out:
        out.write(src.read())
        with open('/proc/self/status') as status:
            out.write(''.join(s for s in status if s.startswith('VmHWM')))
atexit.register(_report)
target = sys.argv[1]
sys.argv = sys.argv[1:]
if target == 'echodesk':
    from echodesk.cli import main
    main()
else:
    runpy.run_path(target, run_name='__main__')
"""


@dataclass
class Run:
    """One timed process: an ingest (``label`` says into what) or the floor."""

    label: str
    messages: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    io: dict[str, int]
    server_bytes: int | None = None  # PostgreSQL: WAL + data pages the server wrote
    accuracy: bench.Accuracy | None = None

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class Side:
    """Every run of one side of a comparison, and their medians."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return median(r.seconds for r in self.runs)

    @property
    def rate(self) -> float:
        return self.runs[0].messages / self.seconds

    def middle(self, key: Callable[[Run], float]) -> float:
        return median(key(r) for r in self.runs)


def measured(program: str, args: Sequence[str], env: dict[str, str], scratch: Path) -> Run:
    """Run ``program`` (``echodesk`` or a script) with its own I/O counters reported."""
    scratch.mkdir(parents=True, exist_ok=True)
    io_file = scratch / "io"
    io_file.unlink(missing_ok=True)
    argv = [sys.executable, "-c", _WRAPPER, program, *args]
    proc = bench.run(argv, {**env, "BENCH_IO_FILE": str(io_file)}, scratch)
    if proc.returncode != 0:
        raise SystemExit(f"{program} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    counters = {}
    for line in io_file.read_text().splitlines():
        name, _, value = line.partition(":")
        counters[name.strip()] = int(value.split()[0])
    # VmHWM, not wait4's ru_maxrss: a child counts its parent's memory until it execs.
    peak_mb = counters.pop("VmHWM") / 1024
    run = Run(program, 0, proc.seconds, proc.cpu_seconds, peak_mb, counters)
    run.messages = _messages_of(proc.stdout)
    return run


def _messages_of(stdout: str) -> int:
    """Messages the process says it took: ingest's ``accepted``, the floor's ``messages``."""
    found = json.loads(stdout.strip().splitlines()[-1])
    return int(found.get("accepted", found.get("messages", 0)))


# -- the pre-filled desk ------------------------------------------------------------------


@dataclass
class Prefilled:
    messages: int
    tickets: int
    spool_rows: int
    seconds: float


def build_prefilled(url: str, messages: int, seed: int) -> Prefilled:
    """An archive of ``messages`` messages, as years of Echo leave it, in ``url``."""
    started = time.perf_counter()
    db = Database(url)
    try:
        migrate.upgrade(db)
        built = search_bench.load(db, searchgen.Archive(messages=messages, seed=seed), db.dialect)
        spooled = _spool_and_references(db)
        db.keep_statistics(imported=built.messages)  # as the import that built it did
        if db.is_postgres:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("CHECKPOINT"))
        else:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.dispose()
    return Prefilled(built.messages, built.tickets, spooled, time.perf_counter() - started)


def _spool_and_references(db: Database) -> int:
    """What the loader leaves out: each inbound message's processed spool row (its raw
    bytes inline, as Echo keeps them), and each reply's reference to the message before."""
    last_id, spooled = 0, 0
    previous: dict[int, str] = {}  # ticket -> its latest message's id
    columns = (
        Message.id,
        Message.ticket_id,
        Message.direction,
        Message.message_id,
        Message.content_hash,
        Message.from_email,
        Message.from_name,
        Message.subject,
        Message.body_text,
        Message.created_at,
    )
    while True:
        with db.transaction() as session:
            stmt = select(*columns).where(Message.id > last_id).order_by(Message.id).limit(5000)
            rows = session.execute(stmt).all()
            if not rows:
                return spooled
            spool, refs = [], []
            for row in rows:
                if row.ticket_id in previous:
                    refs.append({"message_pk": row.id, "ref_id": previous[row.ticket_id]})
                previous[row.ticket_id] = row.message_id.strip("<>")
                if row.direction == "inbound":
                    spool.append(_spool_row(row))
            writes.insert_rows(session, InboundSpool, spool)
            writes.insert_references(session, refs)
            spooled += len(spool)
            last_id = rows[-1].id


def _spool_row(row: Any) -> dict[str, Any]:
    raw = (
        f"From: {row.from_name} <{row.from_email}>\r\nTo: {searchgen.SUPPORT}\r\n"
        f"Subject: {row.subject}\r\nMessage-ID: {row.message_id}\r\n"
        f"Date: {format_datetime(row.created_at)}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{row.body_text}\r\n"
    ).encode()
    return {
        "source": "file",
        "received_at": row.created_at,
        "raw": raw,
        "raw_sha256": row.content_hash,
        "size": len(raw),
        "state": "processed",
        "kind": "customer",
        "message_id": row.message_id.strip("<>"),
        "content_hash": row.content_hash,
        "ticket_id": row.ticket_id,
        "attempts": 1,
        "next_attempt_at": row.created_at,
        "processed_at": row.created_at,
        "from_header": row.from_email,
        "subject": row.subject[:2000],
    }


# -- threading, read from the database -------------------------------------------------------


def accuracy(url: str, box: mailgen.Mailbox) -> bench.Accuracy:
    """The corpus's threading, with every other message of the tickets it went into
    (an archive message in a corpus ticket counts against it)."""
    db = Database(url)
    placed: dict[str, str] = {}
    try:
        ids = [m.message_id for m in box.mails]
        with db.reading() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                tickets = select(Message.ticket_id).where(Message.message_id.in_(chunk))
                stmt = select(Message.message_id, Message.ticket_id).where(
                    Message.ticket_id.in_(tickets)
                )
                placed.update((str(mid), str(tid)) for mid, tid in session.execute(stmt))
    finally:
        db.dispose()
    return bench.score(box, placed)


# -- one ingest, timed --------------------------------------------------------------------------


def add_agents(url: str) -> None:
    """The pre-filled archive's agents, so that an empty desk does the same work per
    message (every customer message notifies each active agent)."""
    db = Database(url)
    try:
        with db.transaction() as session:
            rows = [
                {"email": f"{local}@{searchgen.DESK_DOMAIN}", "name": name, "role": "ops"}
                for name, local in searchgen.AGENTS
            ]
            writes.insert_rows(session, Agent, [{**row, "active": True} for row in rows])
    finally:
        db.dispose()


def ingest_run(
    label: str,
    maildir: Path,
    home: Path,
    url: str,
    box: mailgen.Mailbox,
    server: Any = None,
    agents: bool | None = None,
) -> Run:
    """``echodesk ingest MAILDIR --json`` into the desk at ``url``, its schema made first.

    ``agents`` (the pre-filled comparison): the desk has the archive's agents (added
    here when True) and notifies one of them of unassigned tickets, as a team with a
    triage inbox does; None: a desk without agents (``--vs-floor``).
    """
    env = bench.environment(home, url)
    if agents is not None:
        with Path(env["ECHODESK_CONFIG"]).open("a", encoding="utf-8") as config:
            config.write(f"notify_unassigned: [{TRIAGE}]\n")
    bench.checked([*bench.echodesk_command(), "db", "upgrade"], env, home)
    if agents:
        add_agents(url)
    before = server() if server else None
    run = measured("echodesk", ["ingest", str(maildir), "--json"], env, home)
    if server and before is not None:
        run.server_bytes = server() - before
    run.label = label
    run.accuracy = accuracy(url, box)
    return run


def floor_run(maildir: Path, home: Path) -> Run:
    home.mkdir(parents=True, exist_ok=True)
    database = home / "floor.db"
    database.unlink(missing_ok=True)
    run = measured(str(BENCH / "floor.py"), [str(maildir), str(database)], {}, home)
    run.label = "floor"
    return run


def server_written(cluster: PgCluster) -> int:
    """Bytes the PostgreSQL server has written so far: WAL, and data pages once a
    CHECKPOINT has written every dirty one (PostgreSQL 14-16 counters)."""
    cluster.psql("CHECKPOINT")
    found = cluster.psql(
        "SELECT (SELECT wal_bytes FROM pg_stat_wal)::bigint, "
        "(SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter)"
    ).strip()
    wal, pages = (int(float(x)) for x in found.split("|"))
    return wal + pages * 8192


# -- --prefill ----------------------------------------------------------------------------------


def prefill_sqlite(
    maildir: Path, box: mailgen.Mailbox, work: Path, messages: int, repeat: int, seed: int
) -> tuple[Prefilled, Side, Side]:
    template = work / "prefilled-template.db"
    bench_progress(f"sqlite: building a desk of {messages:,} messages")
    facts = build_prefilled(f"sqlite:///{template}", messages, seed)
    empty, full = Side("empty"), Side(f"pre-filled ({facts.messages:,} messages)")
    for i in range(repeat):
        for side in (empty, full):
            home = work / f"sqlite-{'full' if side is full else 'empty'}-{i}"
            home.mkdir(parents=True)
            db_file = home / "echodesk.db"
            if side is full:
                shutil.copyfile(template, db_file)
            url = f"sqlite:///{db_file}"
            run = ingest_run(side.label, maildir, home, url, box, agents=side is empty)
            side.runs.append(run)
            shutil.rmtree(home, ignore_errors=True)
            bench_progress(f"  sqlite {side.label} run {i + 1}: {side.runs[-1].rate:.0f} msg/s")
    return facts, empty, full


def prefill_postgresql(
    maildir: Path,
    box: mailgen.Mailbox,
    work: Path,
    messages: int,
    args: Any,
) -> tuple[Prefilled, Side, Side, str]:
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        bench_progress(f"postgresql: building a desk of {messages:,} messages")
        facts = build_prefilled(cluster.create_database("prefilled"), messages, args.seed)
        if args.pg_durable:
            bench.make_durable(cluster)
        notes = _pg_notes(cluster)
        empty, full = Side("empty"), Side(f"pre-filled ({facts.messages:,} messages)")
        for i in range(args.repeat):
            for side in (empty, full):
                name = f"{'full' if side is full else 'empty'}{i}"
                url = _pg_database(cluster, name, "prefilled" if side is full else None)
                home = work / f"pg-{name}"
                server = _server_counter(cluster)
                run = ingest_run(side.label, maildir, home, url, box, server, side is empty)
                side.runs.append(run)
                cluster.drop_database(name)
                bench_progress(f"  postgresql {side.label} run {i + 1}: {side.runs[-1].rate:.0f}")
        return facts, empty, full, notes
    finally:
        cluster.stop()


def _server_counter(cluster: PgCluster) -> Callable[[], int]:
    return lambda: server_written(cluster)


def _pg_database(cluster: PgCluster, name: str, template: str | None) -> str:
    """A new database, empty or a copy of ``template`` (copied as files: not timed)."""
    if template is None:
        return cluster.create_database(name)
    cluster.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    return cluster.url_for(name)


def _pg_notes(cluster: PgCluster) -> str:
    fsync = cluster.psql("SHOW fsync").strip()
    sync = cluster.psql("SHOW synchronous_commit").strip()
    return f"throw-away local cluster, fsync={fsync}, synchronous_commit={sync}"


def print_prefill(backend: str, facts: Prefilled, empty: Side, full: Side, notes: str) -> None:
    print(
        f"\n{backend}: the same Maildir into an empty desk and into one of "
        f"{facts.messages:,} messages ({facts.tickets:,} tickets, {facts.spool_rows:,} spool "
        f"rows; built in {facts.seconds:.0f} s). {notes}"
    )
    print(
        f"  {'desk':<34} {'msg/s':>7} {'runs msg/s':>16} {'CPU s':>6} {'RSS MB':>7} "
        f"{'read MB':>8} {'written MB':>10} {'server MB':>10} {'conv ok %':>9}"
    )
    for side in (empty, full):
        server = side.middle(lambda r: (r.server_bytes or 0) / MB)
        acc = side.runs[-1].accuracy
        print(
            f"  {side.label:<34} {side.rate:>7.0f} "
            f"{'/'.join(f'{r.rate:.0f}' for r in side.runs):>16} "
            f"{side.middle(lambda r: r.cpu_seconds):>6.2f} "
            f"{side.middle(lambda r: r.peak_rss_mb):>7.0f} "
            f"{side.middle(lambda r: r.io.get('read_bytes', 0) / MB):>8.1f} "
            f"{side.middle(lambda r: r.io.get('write_bytes', 0) / MB):>10.1f} "
            f"{server if backend == 'postgresql' else float('nan'):>10.1f} "
            f"{acc.conversations_pct if acc else 0:>9.2f}"
        )
    ratio = full.rate / empty.rate

    def written(r: Run) -> float:  # PostgreSQL: the server writes, not the client
        return float(r.server_bytes or 0) if backend == "postgresql" else r.io["write_bytes"]

    whose = "the server" if backend == "postgresql" else "the ingest process"
    bytes_ratio = full.middle(written) / max(1.0, empty.middle(written))
    verdict = "meets" if ratio >= PREFILL_AIM else "MISSES"
    print(
        f"  pre-filled / empty: {ratio:.2f}x the rate ({verdict} the aim of "
        f">= {PREFILL_AIM}x), {bytes_ratio:.2f}x the bytes written by {whose}"
    )


def bench_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- --vs-floor -----------------------------------------------------------------------------------


def vs_floor(
    backend: str, maildir: Path, box: mailgen.Mailbox, work: Path, args: Any
) -> tuple[Side, Side, str]:
    """Echo into a fresh desk and the floor, interleaved, ``args.repeat`` times each."""
    echo, floor = Side("echodesk ingest"), Side("bench/floor.py")
    if backend == "sqlite":
        for i in range(args.repeat):
            home = work / f"floor-sqlite-{i}"
            url = f"sqlite:///{home / 'echodesk.db'}"
            echo.runs.append(ingest_run(echo.label, maildir, home, url, box))
            floor.runs.append(floor_run(maildir, work / f"floor-{i}"))
            shutil.rmtree(home, ignore_errors=True)
        return echo, floor, "SQLite file in a temp dir, WAL, synchronous=NORMAL"
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        if args.pg_durable:
            bench.make_durable(cluster)
        notes = _pg_notes(cluster)
        for i in range(args.repeat):
            url = cluster.create_database(f"floor{i}")
            echo.runs.append(ingest_run(echo.label, maildir, work / f"floor-pg-{i}", url, box))
            floor.runs.append(floor_run(maildir, work / f"floor-{i}"))
            cluster.drop_database(f"floor{i}")
        return echo, floor, notes
    finally:
        cluster.stop()


def print_floor(backend: str, echo: Side, floor: Side, notes: str) -> None:
    print(f"\n{backend} against the floor (the floor writes SQLite in both): {notes}")
    print(f"  {'process':<18} {'msg/s':>7} {'runs msg/s':>16} {'CPU s':>6} {'peak RSS MB':>11}")
    for side in (echo, floor):
        runs = "/".join(f"{r.rate:.0f}" for r in side.runs)
        print(
            f"  {side.label:<18} {side.rate:>7.0f} {runs:>16} "
            f"{side.middle(lambda r: r.cpu_seconds):>6.2f} "
            f"{side.middle(lambda r: r.peak_rss_mb):>11.0f}"
        )
    ratio = echo.rate / floor.rate
    aim = FLOOR_AIM[backend]
    stretch = FLOOR_STRETCH.get(backend)
    verdict = "meets" if ratio >= aim else "MISSES"
    extra = f" (stretch {stretch}x: {'met' if ratio >= stretch else 'not met'})" if stretch else ""
    rss = echo.middle(lambda r: r.peak_rss_mb)
    print(
        f"  Echo / floor: {ratio:.2f}x ({verdict} the aim of >= {aim}x{extra}); "
        f"Echo's peak RSS {rss:.0f} MB ({'meets' if rss < RSS_AIM_MB else 'MISSES'} "
        f"< {RSS_AIM_MB:.0f} MB)"
    )


def threaded_right(sides: Sequence[Side]) -> bool:
    return all(
        r.accuracy.conversations_correct == r.accuracy.conversations
        for side in sides
        for r in side.runs
        if r.accuracy is not None
    )


def run_comparisons(maildir: Path, box: mailgen.Mailbox, work: Path, args: Any) -> bool:
    """What ``--prefill`` and ``--vs-floor`` ask for; True if every run threaded right."""
    backends = [b for b in bench.BACKENDS if args.only in (None, b)]
    sides: list[Side] = []
    for backend in backends:
        if args.prefill and backend == "sqlite":
            facts, empty, full = prefill_sqlite(
                maildir, box, work, args.prefill, args.repeat, args.seed
            )
            print_prefill(backend, facts, empty, full, "WAL, synchronous=NORMAL")
            sides += [empty, full]
        if args.prefill and backend == "postgresql":
            n = args.pg_prefill or args.prefill
            facts, empty, full, notes = prefill_postgresql(maildir, box, work, n, args)
            print_prefill(backend, facts, empty, full, notes)
            sides += [empty, full]
        if args.vs_floor:
            echo, floor, notes = vs_floor(backend, maildir, box, work, args)
            print_floor(backend, echo, floor, notes)
            sides.append(echo)
    print(
        "\nseconds: wall clock of each whole process (interpreter start and imports included; "
        "the schema is made beforehand, untimed); medians of interleaved runs. read/written "
        "MB: read_bytes/write_bytes of the ingest process's /proc/self/io (storage I/O it "
        "caused); server MB: PostgreSQL's WAL bytes plus data pages written (8 kB each), from "
        "a CHECKPOINT before the run to one after."
    )
    return threaded_right(sides)
