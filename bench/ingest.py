"""Ingest benchmark: a generated support mailbox, files to committed tickets.

Generates a seeded mailbox (``bench/mailgen.py``: by default 1,000 conversations
of 1-5 messages), writes it as a Maildir, and runs ``echodesk ingest DIR --json``
as a subprocess on SQLite and on PostgreSQL (a throw-away cluster). Prints, per
backend: messages, wall-clock seconds, messages/s, the ingest process's peak
RSS, and threading accuracy against the generator's ground truth (read back
with ``echodesk show --all --json``). The aim is at least 600 messages/s on
SQLite and 100% threading accuracy; the exit status is 1 if any conversation
was threaded wrongly.

Run from the repository root::

    .venv/bin/python bench/ingest.py [--conversations N] [--seed S]
        [--only sqlite|postgresql] [--pg-durable] [--keep] [--json] [--profile FILE]
        [--stores]   # blob stores side by side: sqlite local/database, postgresql database/s3
        [--prefill N [--pg-prefill N]]   # into an empty desk and one of N messages
        [--vs-floor]   # against bench/floor.py (stdlib parsing, one SQLite row a message)

``--prefill`` and ``--vs-floor`` run only those side-by-side comparisons
(``bench/sidebyside.py`` says what they measure).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import mailgen  # noqa: E402  (bench/ is not a package)

if TYPE_CHECKING:
    from tests.support.postgres import PgCluster

BACKENDS = ("sqlite", "postgresql")
AIM_RATE = 600.0


# -- running echodesk ----------------------------------------------------------


@dataclass
class Proc:
    """One finished echodesk command: exit code, output, wall clock and peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float  # user + system of the process itself
    peak_rss_mb: float


def echodesk_command() -> list[str]:
    """The ``echodesk`` script beside this interpreter (the project's virtualenv)."""
    script = Path(sys.executable).parent / "echodesk"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "echodesk.cli"]


def run(argv: list[str], env: dict[str, str], scratch: Path) -> Proc:
    """Run ``argv`` to completion; its own rusage comes from ``wait4``, not a running max."""
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Proc(
        returncode=proc.returncode,
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
    )


def checked(argv: list[str], env: dict[str, str], scratch: Path) -> Proc:
    """Like :func:`run`, but a failing command stops the benchmark with its stderr."""
    result = run(argv, env, scratch)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[-3:])} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result


def environment(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """A clean environment: no settings leak in from the caller's shell."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ECHODESK_") and k != "DATABASE_URL"
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "echodesk.yaml"
    config.write_text("support_address: support@bench.test\n", encoding="utf-8")
    env["ECHODESK_CONFIG"] = str(config)
    env["ECHODESK_DATA_DIR"] = str(data_dir / "data")
    if database_url:
        env["ECHODESK_DATABASE_URL"] = database_url
    return env


# -- threading accuracy ----------------------------------------------------------


@dataclass
class Accuracy:
    conversations: int
    conversations_correct: int
    messages: int
    messages_correct: int
    tickets: int
    missing: int  # generated messages found in no ticket
    wrong: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conversations_pct(self) -> float:
        return 100.0 * self.conversations_correct / max(1, self.conversations)

    @property
    def messages_pct(self) -> float:
        return 100.0 * self.messages_correct / max(1, self.messages)


def read_tickets(stdout: str) -> dict[str, str]:
    """Message-ID -> ticket label, from ``show --all --json`` (one ticket per line)."""
    placed: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.strip():
            ticket = json.loads(line)
            for message in ticket["messages"]:
                placed[message["message_id"]] = ticket["number"]
    return placed


def score(box: mailgen.Mailbox, placed: dict[str, str]) -> Accuracy:
    """Compare tickets with the ground truth ("same conversation = same ticket").

    A conversation is correct if all its messages are in one ticket that holds
    nothing else. A message is correct if it sits in its conversation's home
    ticket: the ticket with most of the conversation's messages, provided no
    conversation with more messages there claims the same ticket.
    """
    convs: dict[int, list[str]] = defaultdict(list)
    for mail in sorted(box.mails, key=lambda m: (m.conversation, m.index)):
        convs[mail.conversation].append(mail.message_id)
    members: dict[str, set[str]] = defaultdict(set)
    for mid, label in placed.items():
        members[label].add(mid)
    home = _home_tickets(convs, placed)
    acc = Accuracy(len(convs), 0, len(box.mails), 0, len(members), 0)
    for conv, mids in convs.items():
        labels = {placed.get(mid) for mid in mids}
        acc.missing += sum(1 for mid in mids if mid not in placed)
        only = next(iter(labels)) if len(labels) == 1 else None
        if only is not None and members[only] == set(mids):
            acc.conversations_correct += 1
        else:
            acc.wrong.append(_describe(conv, mids, placed, members))
        mine = home.get(conv)
        acc.messages_correct += sum(1 for mid in mids if mine and placed.get(mid) == mine)
    return acc


def _home_tickets(convs: dict[int, list[str]], placed: dict[str, str]) -> dict[int, str]:
    """Each conversation's home ticket; a ticket is home to one conversation only."""
    best: dict[str, tuple[int, int]] = {}  # ticket -> (messages there, -conversation)
    wanted: dict[int, str] = {}
    for conv, mids in convs.items():
        counts = Counter(placed[mid] for mid in mids if mid in placed)
        if not counts:
            continue
        root = placed.get(mids[0])
        label = max(counts, key=lambda t: (counts[t], t == root))
        wanted[conv] = label
        claim = (counts[label], -conv)
        if label not in best or claim > best[label]:
            best[label] = claim
    return {conv: label for conv, label in wanted.items() if -best[label][1] == conv}


def _describe(
    conv: int, mids: list[str], placed: dict[str, str], members: dict[str, set[str]]
) -> dict[str, Any]:
    tickets = sorted({placed.get(mid) or "-" for mid in mids})
    foreign = sum(len(members[t] - set(mids)) for t in tickets if t in members)
    return {
        "conversation": conv,
        "tickets": tickets,
        "foreign_messages": foreign,
        "messages": [[mid, placed.get(mid) or "-"] for mid in mids],
    }


# -- one backend -------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    messages: int
    seconds: float
    rate: float
    cpu_seconds: float
    peak_rss_mb: float
    summary: dict[str, int]
    accuracy: Accuracy
    notes: str
    #: messages/s of every repetition (the row shows the median run).
    all_rates: list[float] = field(default_factory=list)


def bench_backend(
    backend: str,
    maildir: Path,
    box: mailgen.Mailbox,
    work: Path,
    url: str | None,
    notes: str,
    store: dict[str, str] | None = None,
) -> Result:
    """Upgrade the schema, time the ingest, then read the tickets back and score them."""
    env = {**environment(work, url), **(store or {})}
    cmd = echodesk_command()
    checked([*cmd, "db", "upgrade"], env, work)
    ingest = checked([*cmd, "ingest", str(maildir), "--json"], env, work)
    summary = json.loads(ingest.stdout.strip().splitlines()[-1])
    shown = checked([*cmd, "show", "--all", "--json"], env, work)
    accuracy = score(box, read_tickets(shown.stdout))
    return Result(
        backend=backend,
        messages=len(box.mails),
        seconds=ingest.seconds,
        rate=len(box.mails) / ingest.seconds,
        cpu_seconds=ingest.cpu_seconds,
        peak_rss_mb=ingest.peak_rss_mb,
        summary=summary,
        accuracy=accuracy,
        notes=notes,
    )


def median_run(runs: list[Result]) -> Result:
    """The run with the median time, carrying every run's rate (the machine is shared)."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    middle.all_rates = [r.rate for r in runs]
    return middle


def bench_sqlite(
    maildir: Path, box: mailgen.Mailbox, work: Path, repeat: int, store: str = ""
) -> Result:
    notes = "SQLite file in a temp dir, WAL, synchronous=NORMAL (echodesk's own pragmas)"
    label = f"sqlite/{store}" if store else "sqlite"
    env = {"ECHODESK_BLOB_STORE": store} if store else None
    return median_run(
        [
            bench_backend(
                label, maildir, box, work / f"{label}-{i}".replace("/", "-"), None, notes, env
            )
            for i in range(repeat)
        ]
    )


def bench_postgresql(
    maildir: Path,
    box: mailgen.Mailbox,
    work: Path,
    durable: bool,
    repeat: int,
    stores: dict[str, dict[str, str]] | None = None,
) -> list[Result]:
    """The same run against a throw-away cluster (tests/support/postgres.py), then stop it;
    once per blob store in ``stores`` (label: settings), else with the default store."""
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        if durable:
            make_durable(cluster)
        fsync = cluster.psql("SHOW fsync").strip()
        sync = cluster.psql("SHOW synchronous_commit").strip()
        notes = f"throw-away local cluster, fsync={fsync}, synchronous_commit={sync}" + (
            "" if durable else " (as tests/support/postgres.py starts it; --pg-durable: on)"
        )
        results = []
        for label, env in (stores or {"": {}}).items():
            name = f"postgresql/{label}" if label else "postgresql"
            runs = []
            for i in range(repeat):
                url = cluster.create_database(f"bench{label}{i}")
                home = work / f"pg-{label}-{i}"
                runs.append(bench_backend(name, maildir, box, home, url, notes, env))
            results.append(median_run(runs))
        return results
    finally:
        cluster.stop()


def make_durable(cluster: PgCluster) -> None:
    """Restart the cluster without fsync=off, synchronous_commit=off, full_page_writes=off.

    The helper starts PostgreSQL with those three turned off (fine for tests);
    ``pg_ctl restart -o`` replaces the server's options, so the defaults
    (all on) apply again.
    """
    opts = (
        f"-c port={cluster.port} -c listen_addresses=127.0.0.1 "
        f"-c unix_socket_directories={cluster.base} -c max_connections=200"
    )
    subprocess.run(
        [
            f"{cluster.bindir}/pg_ctl",
            "-D",
            cluster.data,
            "-o",
            opts,
            "-l",
            f"{cluster.base}/log",
            "-w",
            "-t",
            "30",
            "restart",
        ],
        user=cluster.run_as,
        stdin=subprocess.DEVNULL,
        check=True,
        capture_output=True,
        cwd=cluster.base,
    )


# -- profiling -----------------------------------------------------------------------


def profile_sqlite(maildir: Path, work: Path, out: Path, top: int = 25) -> str:
    """One more SQLite ingest (not timed) under cProfile; returns the top functions."""
    env = environment(work / "profile", None)
    cmd = echodesk_command()
    checked([*cmd, "db", "upgrade"], env, work)
    prof = [sys.executable, "-m", "cProfile", "-o", str(out), cmd[-1]]
    checked([*prof, "ingest", str(maildir), "--json"], env, work)
    report: list[str] = []
    for order in ("cumulative", "tottime"):
        stream = _Capture()
        stats = pstats.Stats(str(out), stream=stream)  # type: ignore[arg-type]
        stats.strip_dirs().sort_stats(order).print_stats(top)
        report.append(f"--- top {top} by {order} ---\n{stream.text()}")
    return "\n".join(report)


class _Capture:
    """A write-only text sink for pstats, keeping just the table."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def text(self) -> str:
        lines = "".join(self.parts).splitlines()
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        return "\n".join(ln for ln in lines[start:] if ln.strip())


# -- output -----------------------------------------------------------------------


def print_mailbox(box: mailgen.Mailbox, maildir: Path, seconds: float) -> None:
    """What was generated, so the figures can be read against it."""
    stats = box.stats
    n = len(box.mails)
    print(
        f"mailbox: {box.conversations} conversations, {n} messages, "
        f"{box.size_bytes / 1e6:.1f} MB, seed {box.seed}, generated in {seconds:.1f} s"
    )
    print(f"  {maildir}")
    html = stats["html: alternative"] + stats["html: only"]
    print(
        f"  HTML {100 * html / n:.0f}% ({stats['html: alternative']} alternative, "
        f"{stats['html: only']} HTML-only), attachments {100 * stats['with attachments'] / n:.0f}%"
        f", CRLF {stats['CRLF line ends']}"
    )
    charsets = ", ".join(
        f"{k.removeprefix('charset ')} {v}"
        for k, v in sorted(stats.items())
        if k.startswith("charset ")
    )
    print(f"  charsets: {charsets}")
    replies = ", ".join(
        f"{k.removeprefix('reply: ')} {v}"
        for k, v in sorted(stats.items())
        if k.startswith("reply: ")
    )
    print(f"  replies: {replies}; trimmed References {stats['References trimmed']}")
    print(
        f"  out of order: {stats['reply delivered before its parent']} replies delivered "
        f"before their parent; {stats['subjects distinct']} distinct first subjects, "
        f"{stats['customers distinct']} distinct senders"
    )


def print_table(results: list[Result], startup: float) -> None:
    head = (
        "backend",
        "messages",
        "seconds",
        "msg/s",
        "runs msg/s",
        "after start-up",
        "CPU s",
        "peak RSS MB",
        "conv ok %",
        "msg ok %",
    )
    rows = [
        (
            r.backend,
            str(r.messages),
            f"{r.seconds:.2f}",
            f"{r.rate:.0f}",
            "/".join(f"{x:.0f}" for x in r.all_rates),
            f"{r.messages / max(r.seconds - startup, 1e-6):.0f}",
            f"{r.cpu_seconds:.2f}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.accuracy.conversations_pct:.2f}",
            f"{r.accuracy.messages_pct:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    print(
        "\nseconds: wall clock of 'echodesk ingest MAILDIR --json', process start to exit "
        "(files to committed tickets, interpreter start and imports included); the median of\n"
        "the runs (every run's msg/s shown); 'after start-up' leaves out the time of\n"
        "'echodesk --version' (interpreter start and imports);\n"
        "CPU s: that process's user + system time; peak RSS: its ru_maxrss (the PostgreSQL "
        "server's memory is not included)"
    )
    print()
    for row in [head, *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def print_details(result: Result) -> None:
    """The ingest summary, the notes, and up to ten wrongly threaded conversations."""
    acc = result.accuracy
    print(f"\n{result.backend}: {result.notes}")
    print(f"  ingest --json: {json.dumps(result.summary)}")
    print(
        f"  {acc.tickets} live tickets for {acc.conversations} conversations; "
        f"{acc.conversations_correct} conversations and {acc.messages_correct}/{acc.messages} "
        f"messages threaded correctly; {acc.missing} messages in no ticket"
    )
    for wrong in acc.wrong[:10]:
        print(
            f"  WRONG conversation {wrong['conversation']}: tickets {', '.join(wrong['tickets'])}"
            f" ({wrong['foreign_messages']} messages of other conversations there)"
        )
        for mid, label in wrong["messages"]:
            print(f"      {label:<10} <{mid}>")
    if result.backend.startswith("sqlite"):
        verdict = "meets" if result.rate >= AIM_RATE else "MISSES"
        print(f"  {result.rate:.0f} messages/s {verdict} the aim of {AIM_RATE:.0f}/s")


def as_json(box: mailgen.Mailbox, results: list[Result]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "conversations": box.conversations,
        "messages": len(box.mails),
        "seed": box.seed,
        "results": [],
    }
    for r in results:
        item = asdict(r)
        item["accuracy"]["wrong"] = item["accuracy"]["wrong"][:10]
        item["accuracy"]["conversations_pct"] = r.accuracy.conversations_pct
        item["accuracy"]["messages_pct"] = r.accuracy.messages_pct
        out["results"].append(item)
    return out


# -- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=BACKENDS, help="run one backend only")
    parser.add_argument(
        "--pg-durable",
        action="store_true",
        help="restart the PostgreSQL cluster with fsync and synchronous_commit on",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per backend; the median run is shown"
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--stores",
        action="store_true",
        help="blob stores side by side: SQLite with local and database, PostgreSQL with "
        "database and S3 (moto's server on loopback)",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="also profile a SQLite ingest into FILE"
    )
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        metavar="N",
        help="ingest into an empty desk and into one pre-filled with N messages, side by side",
    )
    parser.add_argument(
        "--pg-prefill", type=int, default=0, metavar="N", help="N on PostgreSQL [--prefill]"
    )
    parser.add_argument(
        "--vs-floor",
        action="store_true",
        help="whole-process rate against bench/floor.py on the same Maildir, side by side",
    )
    return parser.parse_args(argv)


def bench_stores(
    maildir: Path, box: mailgen.Mailbox, work: Path, args: argparse.Namespace
) -> list[Result]:
    """Every blob store on the database it suits, in one run (the machine is shared)."""
    from scale import start_s3

    results = [bench_sqlite(maildir, box, work, args.repeat, s) for s in ("local", "database")]
    server, s3 = start_s3()
    try:
        stores = {"database": {"ECHODESK_BLOB_STORE": "database"}, "s3": s3}
        results += bench_postgresql(maildir, box, work, args.pg_durable, args.repeat, stores)
    finally:
        server.stop()
    return results


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="echodesk-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"\nkept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with workspace(args.keep) as work:
        start = time.perf_counter()
        box = mailgen.generate(args.conversations, args.seed)
        maildir = mailgen.write_maildir(box, work / "Maildir")
        mailgen.write_truth(box, work / "truth.json")
        print_mailbox(box, maildir, time.perf_counter() - start)
        startup = run([*echodesk_command(), "--version"], dict(os.environ), work)
        print(f"  'echodesk --version' (interpreter start and imports): {startup.seconds:.2f} s")
        if args.prefill or args.vs_floor:
            import sidebyside  # imports this module: loaded only when asked for

            return 0 if sidebyside.run_comparisons(maildir, box, work, args) else 1
        results: list[Result] = []
        if args.stores:
            results = bench_stores(maildir, box, work, args)
        else:
            if args.only in (None, "sqlite"):
                results.append(bench_sqlite(maildir, box, work, args.repeat))
            if args.only in (None, "postgresql"):
                results += bench_postgresql(maildir, box, work, args.pg_durable, args.repeat)
        print_table(results, startup.seconds)
        for result in results:
            print_details(result)
        if args.profile:
            print(f"\nprofile of a SQLite ingest ({args.profile}):")
            print(profile_sqlite(maildir, work, args.profile))
        if args.json:
            print(json.dumps(as_json(box, results)))
    perfect = all(r.accuracy.conversations_correct == r.accuracy.conversations for r in results)
    return 0 if perfect else 1


if __name__ == "__main__":
    sys.exit(main())
