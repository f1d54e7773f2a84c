"""SMTP receiver benchmark: N concurrent clients on loopback against ``echodesk serve``.

Starts the real ``echodesk serve --smtp 127.0.0.1:PORT`` (receiver and pipeline
worker in one process, as an operator runs it; ``tests/support/serve.py``) on
SQLite and on PostgreSQL (a throw-away cluster, ``tests/support/postgres.py``).
Each of N client threads opens one SMTP connection (smtplib) and sends M
messages one after the other, each from its own sender with its own Message-ID,
so every message should become its own ticket. All clients start together
(a barrier, after connecting and EHLO).

Per message it measures the DATA latency: from handing the end of DATA (the
whole message and the final ``CRLF.CRLF``) to the socket to receiving the reply.
Echo answers 250 only once the message is committed to the spool, so this is
the spool commit as a sending server sees it. It also measures the whole
transaction (MAIL FROM to the DATA reply). Accepted messages/s is messages
answered 250 divided by the wall time of the sending phase (barrier release to
the last client's last reply).

After sending, it polls ``echodesk tickets --json`` until the worker has turned
every accepted message into a ticket, and reports how long that took after the
sending phase ended (the pipeline's catch-up). The exit status is 1 if a
message was refused or the ticket count is not exactly clients x messages.

Aims (from the issue): DATA p99 under 50 ms with 20 concurrent clients, and at
least 200 accepted messages/s.

Run from the repository root::

    .venv/bin/python bench/smtp_load.py [--clients N] [--messages M]
        [--only sqlite|postgresql] [--size BYTES] [--timeout S] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import smtplib
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.serve import EchoProcess  # noqa: E402  (the repository root is not installed)

BACKENDS = ("sqlite", "postgresql")
SUPPORT = "support@bench.test"
AIM_P99_MS = 50.0
AIM_CLIENTS = 20
AIM_RATE = 200.0
PHRASES = (
    "my printer shows an error",
    "the invoice for last month",
    "I cannot log in to my account",
    "the order has still not been delivered",
    "please change the billing address",
    "since the last update",
    "every time I try again",
    "thanks for your help",
)


# -- messages -------------------------------------------------------------------


def make_message(client: int, index: int, size: int, run: str) -> tuple[str, bytes]:
    """One customer message of about ``size`` bytes: (envelope sender, raw bytes).

    Sender, Message-ID and subject are unique per (client, index), and there
    are no threading headers, so each message opens a new ticket.
    """
    sender = f"customer{client:03d}.{index:04d}@customers.bench.test"
    msg = EmailMessage()
    msg["From"] = f"Customer {client}-{index} <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = f"Load test {run} client {client} message {index}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{run}.{client}.{index}@customers.bench.test>"
    msg.set_content("Hello,\n")
    head = len(msg.as_bytes(policy=SMTP_POLICY))
    msg.set_content(filler(max(0, size - head), seed=client * 100_003 + index))
    return sender, msg.as_bytes(policy=SMTP_POLICY)


def filler(size: int, seed: int) -> str:
    """Short plain prose lines (at most 80 characters) adding up to about ``size`` bytes."""
    lines: list[str] = ["Hello,", ""]
    total = 9
    n = seed
    while total < size:
        n = (n * 1_103_515_245 + 12_345) % 2**31
        first, second = PHRASES[n % len(PHRASES)], PHRASES[(n >> 8) % len(PHRASES)]
        line = f"{first[0].upper()}{first[1:]}, {second}."
        lines.append(line)
        total += len(line) + 2  # CRLF on the wire
    return "\n".join(lines) + "\n"


def dot_stuffed(raw: bytes) -> bytes:
    """The DATA payload: lines starting with '.' doubled, ending in CRLF.CRLF."""
    payload = re.sub(rb"(?m)^\.", b"..", raw)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    return payload + b".\r\n"


# -- one client -----------------------------------------------------------------


@dataclass
class ClientLog:
    """What one client saw: per accepted message its latencies; every refusal or error."""

    data_ms: list[float] = field(default_factory=list)
    transaction_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def connect(port: int) -> smtplib.SMTP:
    """An SMTP connection to Echo, greeted and EHLO'd (not timed)."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=120)
    client.ehlo("loadgen.bench.test")
    return client


def send_data(client: smtplib.SMTP, raw: bytes) -> tuple[int, bytes, float]:
    """DATA, as ``smtplib.SMTP.data`` does it, timing end of DATA to the reply.

    The clock starts once the whole payload (ending in CRLF.CRLF) has been
    handed to the socket, so the DATA command's own 354 round trip and the
    transfer of the bytes are not in the figure.
    """
    code, reply = client.docmd("DATA")
    if code != 354:
        return code, reply, 0.0
    client.send(dot_stuffed(raw))
    start = time.perf_counter()
    code, reply = client.getreply()
    return code, reply, time.perf_counter() - start


def send_one(client: smtplib.SMTP, sender: str, raw: bytes, log: ClientLog) -> None:
    """One transaction (MAIL, RCPT, DATA); records the latencies or the error."""
    start = time.perf_counter()
    code, reply = client.mail(sender)
    if code != 250:
        log.errors.append(f"MAIL {code} {reply.decode(errors='replace')}")
        client.rset()
        return
    code, reply = client.rcpt(SUPPORT)
    if code not in (250, 251):
        log.errors.append(f"RCPT {code} {reply.decode(errors='replace')}")
        client.rset()
        return
    code, reply, data_seconds = send_data(client, raw)
    if code != 250:
        log.errors.append(f"DATA {code} {reply.decode(errors='replace')}")
        client.rset()
        return
    log.data_ms.append(1000 * data_seconds)
    log.transaction_ms.append(1000 * (time.perf_counter() - start))


def run_client(
    port: int,
    number: int,
    mails: Sequence[tuple[str, bytes]],
    barrier: threading.Barrier,
    log: ClientLog,
) -> None:
    """Connect, wait for the others, then send ``mails`` one after the other.

    A broken connection is recorded as an error and replaced by a new one, so
    one failure does not hide what happens to the remaining messages.
    """
    client: smtplib.SMTP | None = None
    try:
        client = connect(port)
    except (OSError, smtplib.SMTPException) as exc:
        log.errors.append(f"connect: {type(exc).__name__}: {exc}")
    barrier.wait()
    for sender, raw in mails:
        try:
            if client is None:
                client = connect(port)
            send_one(client, sender, raw, log)
        except (OSError, smtplib.SMTPException) as exc:
            log.errors.append(f"client {number}: {type(exc).__name__}: {exc}")
            close_quietly(client)
            client = None
    if client is not None:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            close_quietly(client)


def close_quietly(client: smtplib.SMTP | None) -> None:
    """Drop a connection that may already be broken."""
    if client is not None:
        with suppress(OSError):
            client.close()


def send_phase(
    port: int, clients: int, messages: int, size: int, run: str
) -> tuple[list[ClientLog], float]:
    """All clients at once; returns their logs and the wall time of the sending phase."""
    logs = [ClientLog() for _ in range(clients)]
    mails = [[make_message(c, i, size, run) for i in range(messages)] for c in range(clients)]
    barrier = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(
            target=run_client, args=(port, c, mails[c], barrier, logs[c]), name=f"smtp-client-{c}"
        )
        for c in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return logs, time.perf_counter() - start


# -- figures ----------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the smallest value with ``pct``% at or below it)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Result:
    """One backend's run: the sending phase, the latencies and the pipeline's catch-up."""

    backend: str
    notes: str
    clients: int
    messages_per_client: int
    message_bytes: int
    sent: int
    accepted: int
    errors: int
    send_seconds: float
    accepted_per_s: float
    data_ms: dict[str, float]
    transaction_ms: dict[str, float]
    tickets: int
    catch_up_seconds: float | None  # sending phase end -> poll saw every ticket
    last_ticket_seconds: float | None  # sending phase end -> newest ticket's created_at
    poll_seconds: float  # how long one 'echodesk tickets --json' took (the poll resolution)
    serve_cpu_seconds: float | None  # CPU time of the serve process during the sending phase
    spool_states: dict[str, int]
    error_samples: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.clients * self.messages_per_client

    @property
    def complete(self) -> bool:
        return self.errors == 0 and self.accepted == self.expected == self.tickets


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values, default=math.nan),
    }


# -- running echodesk -----------------------------------------------------------------


def wait_for_tickets(
    echo: EchoProcess, count: int, timeout: float
) -> tuple[list[dict[str, Any]], float | None, float]:
    """Poll ``echodesk tickets --json`` until ``count`` tickets exist or ``timeout`` passes.

    Returns the last listing, the seconds until a poll saw them all (None on
    timeout) and the mean duration of one poll.
    """
    start = time.perf_counter()
    polls: list[float] = []
    tickets: list[dict[str, Any]] = []
    while True:
        before = time.perf_counter()
        tickets = echo.cli("tickets")
        polls.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - start
        if len(tickets) >= count:
            return tickets, elapsed, sum(polls) / len(polls)
        if elapsed > timeout:
            return tickets, None, sum(polls) / len(polls)
        time.sleep(0.05)


def newest_ticket_after(tickets: list[dict[str, Any]], since: float) -> float | None:
    """Seconds from ``since`` (a time.time() value) to the newest ticket's created_at."""
    stamps = [
        datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")).timestamp()
        for t in tickets
        if t.get("created_at")
    ]
    return max(stamps) - since if stamps else None


def echo_process(work: Path, url: str | None) -> EchoProcess:
    """``echodesk serve`` set up by tests/support/serve.py, with this benchmark's settings.

    No ``ECHODESK_*`` variable leaks in from the caller's shell (a stray
    ECHODESK_DATABASE_URL would send the SQLite run elsewhere).
    """
    work.mkdir(parents=True)
    echo = EchoProcess(work, url)
    config = work / "echodesk.yaml"
    config.write_text(f"support_address: {SUPPORT}\n", encoding="utf-8")
    env = {k: v for k, v in echo.env.items() if not k.startswith("ECHODESK_")}
    env["ECHODESK_CONFIG"] = str(config)
    env["ECHODESK_DATA_DIR"] = str(work / "data")
    if url:
        env["ECHODESK_DATABASE_URL"] = url
    echo.env = env
    return echo


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_backend(
    backend: str, url: str | None, notes: str, work: Path, args: argparse.Namespace
) -> Result:
    """Start ``echodesk serve``, send, wait for the tickets, stop it, and sum up."""
    echo = echo_process(work, url)
    try:
        echo.start()
    except Exception:
        if echo.proc is not None and echo.proc.poll() is None:
            echo.kill()  # it never listened: do not leave it running
        raise
    try:
        run = f"{backend}-{os.getpid()}-{int(time.time())}"
        assert echo.proc is not None
        cpu_before = process_cpu(echo.proc.pid)
        logs, seconds = send_phase(echo.port, args.clients, args.messages, args.size, run)
        sent_end = time.time()
        cpu_after = process_cpu(echo.proc.pid)
        accepted = sum(len(log.data_ms) for log in logs)
        tickets, catch_up, poll = wait_for_tickets(echo, accepted, args.timeout)
        time.sleep(0.5)  # a ticket too many would show up now
        tickets = echo.cli("tickets")
        spool = echo.cli("spool")
    finally:
        code = echo.stop()
    if code != 0:
        tail = echo.log.read_text(encoding="utf-8", errors="replace")[-2000:]
        print(f"warning: echodesk serve exited with {code}:\n{tail}", file=sys.stderr)
    errors = [e for log in logs for e in log.errors]
    return Result(
        backend=backend,
        notes=notes,
        clients=args.clients,
        messages_per_client=args.messages,
        message_bytes=len(make_message(0, 0, args.size, "x")[1]),
        sent=args.clients * args.messages,
        accepted=accepted,
        errors=len(errors),
        send_seconds=seconds,
        accepted_per_s=accepted / seconds,
        data_ms=summary([ms for log in logs for ms in log.data_ms]),
        transaction_ms=summary([ms for log in logs for ms in log.transaction_ms]),
        tickets=len(tickets),
        catch_up_seconds=catch_up,
        last_ticket_seconds=newest_ticket_after(tickets, sent_end),
        poll_seconds=poll,
        serve_cpu_seconds=(
            cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
        ),
        spool_states=dict(Counter(str(row["state"]) for row in spool)),
        error_samples=[text for text, _ in Counter(errors).most_common(5)],
    )


def bench_sqlite(work: Path, args: argparse.Namespace) -> Result:
    notes = "SQLite file in a temp dir, WAL, synchronous=NORMAL (echodesk's own pragmas)"
    return bench_backend("sqlite", None, notes, work / "sqlite", args)


def bench_postgresql(work: Path, args: argparse.Namespace) -> Result:
    """The same run against a throw-away local cluster, stopped afterwards."""
    from tests.support.postgres import start_cluster

    cluster = start_cluster()
    try:
        fsync = cluster.psql("SHOW fsync").strip()
        sync = cluster.psql("SHOW synchronous_commit").strip()
        notes = (
            f"throw-away local cluster (tests/support/postgres.py), fsync={fsync}, "
            f"synchronous_commit={sync}: commits are not durable, so its latencies are "
            "better than a durable PostgreSQL would give"
        )
        url = cluster.create_database("smtp_load")
        return bench_backend("postgresql", url, notes, work / "postgresql", args)
    finally:
        cluster.stop()


# -- output -----------------------------------------------------------------------


def aims(result: Result) -> list[tuple[str, bool | None]]:
    """Each aim with whether it is met (None: the p99 aim is stated for 20 clients)."""
    p99 = result.data_ms["p99"]
    p99_met = p99 < AIM_P99_MS if result.clients == AIM_CLIENTS else None
    return [
        (f"DATA p99 < {AIM_P99_MS:.0f} ms at {AIM_CLIENTS} clients (p99 {p99:.1f} ms)", p99_met),
        (
            f">= {AIM_RATE:.0f} accepted messages/s ({result.accepted_per_s:.0f}/s)",
            result.accepted_per_s >= AIM_RATE,
        ),
        (
            f"tickets == clients x messages ({result.tickets} of {result.expected})",
            result.complete,
        ),
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_table(results: list[Result]) -> None:
    head = (
        "backend",
        "clients",
        "messages",
        "accepted/s",
        "DATA p50",
        "p95",
        "p99",
        "max ms",
        "txn p50",
        "p99 ms",
        "errors",
        "tickets",
        "catch-up s",
    )
    rows = [
        (
            r.backend,
            str(r.clients),
            f"{r.clients}x{r.messages_per_client}",
            f"{r.accepted_per_s:.0f}",
            fmt(r.data_ms["p50"]),
            fmt(r.data_ms["p95"]),
            fmt(r.data_ms["p99"]),
            fmt(r.data_ms["max"]),
            fmt(r.transaction_ms["p50"]),
            fmt(r.transaction_ms["p99"]),
            str(r.errors),
            f"{r.tickets}/{r.expected}",
            "timeout" if r.catch_up_seconds is None else f"{r.catch_up_seconds:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    print()
    for row in [head, *rows]:
        cells = zip(row, widths, strict=True)
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))


def print_legend(size: int) -> None:
    print(
        f"\nDATA: from handing the end of DATA (message + CRLF.CRLF, ~{size} bytes, one\n"
        "send() on loopback) to the socket to the reply, in ms; Echo replies 250 only after\n"
        "the spool commit. txn: MAIL FROM to the DATA reply (MAIL, RCPT, DATA/354, payload,\n"
        "reply). accepted/s: 250 replies / wall time from the barrier release to the last\n"
        "reply. catch-up: from the end of sending until 'echodesk tickets --json' listed every\n"
        "message as a ticket (the pipeline worker runs in the serve process); the load\n"
        "generator's threads run on the same machine and are part of the figures."
    )


def print_details(result: Result) -> None:
    print(f"\n{result.backend}:")
    print(textwrap.fill(result.notes, 92, initial_indent="  ", subsequent_indent="  "))
    print(
        f"  {result.sent} messages of {result.message_bytes} bytes sent in "
        f"{result.send_seconds:.2f} s, {result.accepted} accepted, {result.errors} errors"
    )
    last = fmt(result.last_ticket_seconds, 2)
    print(
        f"  catch-up {fmt(result.catch_up_seconds, 2)} s as polled (one poll takes "
        f"{result.poll_seconds:.2f} s); newest ticket stamped {last} s after sending ended"
    )
    if result.serve_cpu_seconds is not None:
        share = 100 * result.serve_cpu_seconds / result.send_seconds
        print(
            f"  serve process CPU while sending: {result.serve_cpu_seconds:.2f} s "
            f"({share:.0f}% of one core; receiver and worker share one interpreter)"
        )
    states = ", ".join(f"{k} {v}" for k, v in sorted(result.spool_states.items()))
    print(f"  spool: {states}")
    for sample in result.error_samples:
        print(f"  error: {sample}")
    for text, met in aims(result):
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        print(f"  {verdict:>6}: {text}" + (" - not this run's client count" if met is None else ""))


# -- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent SMTP connections")
    parser.add_argument("--messages", type=int, default=25, help="messages per client")
    parser.add_argument("--only", choices=BACKENDS, help="run one backend only")
    parser.add_argument("--size", type=int, default=3000, help="approximate message bytes")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the pipeline"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.messages < 1:
        parser.error("--clients and --messages must be at least 1")
    return args


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="echodesk-smtp-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"\nkept {path} (serve.log per backend)")
        else:
            shutil.rmtree(path, ignore_errors=True)


def as_json(result: Result) -> dict[str, Any]:
    item = asdict(result)
    item["expected"] = result.expected
    item["aims"] = {text: met for text, met in aims(result)}
    return item


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"{args.clients} clients x {args.messages} messages of ~{args.size} bytes, "
        f"echodesk serve on 127.0.0.1, {os.cpu_count()} CPUs (clients, server and "
        "PostgreSQL share them)"
    )
    results: list[Result] = []
    with workspace(args.keep) as work:
        if args.only in (None, "sqlite"):
            results.append(bench_sqlite(work, args))
        if args.only in (None, "postgresql"):
            results.append(bench_postgresql(work, args))
    print_legend(args.size)
    print_table(results)
    for result in results:
        print_details(result)
    if args.json:
        print(json.dumps([as_json(r) for r in results]))
    return 0 if all(r.complete for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
