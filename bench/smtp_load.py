"""SMTP receiver benchmark: N concurrent clients on loopback against ``echodesk serve``,
with Echo's own sender verification (DKIM, SPF, DMARC) off and on, side by side.

Starts the real ``echodesk serve --smtp 127.0.0.1:PORT`` (receiver and pipeline
worker in one process, as an operator runs it; ``tests/support/serve.py``) on
SQLite and on PostgreSQL (a throw-away cluster, ``tests/support/postgres.py``).
Each of N client threads opens one SMTP connection (smtplib) and sends M
messages one after the other, each from its own sender with its own Message-ID,
so every message should become its own ticket. All clients start together
(a barrier, after connecting and EHLO).

Verification (``--verify on|off|both``, default both). Each run is a fresh
``echodesk serve`` with a fresh database and the setting given explicitly
(``ECHODESK_VERIFY_MAIL=false`` or ``true``; no ``ECHODESK_*`` variable of the
caller's shell leaks in). Per database the modes are interleaved, off, on, off,
on ... for ``--rounds`` rounds, so both see the same machine noise.

- ``off``: senders ``customerCCC.IIII@customers.bench.test``, unsigned.
- ``on``: the DNS test zone of ``tests/support/dnszone.py`` (dnsmasq on a
  loopback port, started once) is Echo's resolver (``ECHODESK_DNS_RESOLVER``,
  ``ECHODESK_DNS_TIMEOUT``). Every message is From and MAIL FROM
  ``clientC.msgI@good.test`` (SPF ``ip4:127.0.0.1 -all``, DMARC ``p=reject``),
  sent from 127.0.0.1 (SPF pass) and DKIM-signed with the zone's ``sel`` key for
  good.test, so every check passes. Signing happens before the clients start,
  outside the timed part; the body is shortened by the signature's size so the
  messages are as large as in ``off``. The zone's answers carry the TTL
  ``--dns-ttl`` (default 300 s: Echo's resolver caches the answers, as with
  real records); ``--dns-ttl 0`` measures a DNS round trip per look-up.

Per message it measures the DATA latency: from handing the end of DATA (the
whole message and the final ``CRLF.CRLF``) to the socket to receiving the reply.
Echo answers 250 only once the message is checked (with verification on) and
committed to the spool, so this is the check plus the spool commit as a sending
server sees it. It also measures the whole transaction (MAIL FROM to the DATA
reply). Accepted messages/s is messages answered 250 divided by the wall time of
the sending phase (barrier release to the last client's last reply).

After sending, it polls ``echodesk tickets --json`` until the worker has turned
every accepted message into a ticket, and reports how long that took after the
sending phase ended (the pipeline's catch-up). Then it checks that verification
really happened as configured: ``echodesk show --all --json`` must give every
inbound message ``sender_auth`` "pass" with verification on and "none" with it
off, and every message's ``auth_results`` (Echo's own ``Authentication-Results``,
computed by the worker) must say spf=pass, dkim=pass and dmarc=pass (on) or be
empty (off). The receiver itself only removes forged headers: the checks wait
on DNS, so the worker does them, and DATA latency is the spool commit's. The
exit status is 1 if a message was refused, the ticket count is not exactly
clients x messages, or the verification check fails, in any run.

Aims (from the issue), with verification on: DATA p99 under 50 ms with 20
concurrent clients, and at least 200 accepted messages/s.

Output: one row per run (backend, verify mode, round), a side-by-side table per
database (accepted/s, DATA p50/p95/p99, DATA p99 without each client's first
message (the cold start of a freshly started server), transaction p99 and serve
CPU per message, for off and on pooled over the rounds, and the on/off ratio),
whether the aims were met with verification on, and each run's details.
``--json`` also prints ``{"runs": [...], "side_by_side": [...]}`` on one line
(``runs``: what was the whole list before, one object per run, now with
``verify``, ``round``, ``sender_auth``, ``own_auth_results``, ``auth_problems``,
``data_ms_after_first`` and ``ok``; NaN is written as null).

Run from the repository root::

    .venv/bin/python bench/smtp_load.py [--clients N] [--messages M]
        [--only sqlite|postgresql] [--verify on|off|both] [--rounds R]
        [--dns-ttl S] [--dns-timeout S] [--size BYTES] [--timeout S] [--keep] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.serve import EchoProcess  # noqa: E402  (the repository root is not installed)

if TYPE_CHECKING:
    from tests.support.dnszone import DnsZone

BACKENDS = ("sqlite", "postgresql")
MODES = ("off", "on")  # the order within a round
SUPPORT = "support@bench.test"
SIGNED_DOMAIN = "good.test"  # the test zone: SPF ip4:127.0.0.1 -all, DMARC p=reject, DKIM sel
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


def make_message(
    client: int, index: int, size: int, run: str, domain: str | None = None
) -> tuple[str, bytes]:
    """One customer message of about ``size`` bytes: (envelope sender, raw bytes).

    Sender, Message-ID and subject are unique per (client, index), and there
    are no threading headers, so each message opens a new ticket. With
    ``domain`` the sender is ``clientC.msgI@domain`` (the signed test domain).
    """
    if domain is None:
        sender = f"customer{client:03d}.{index:04d}@customers.bench.test"
        host = "customers.bench.test"
    else:
        sender, host = f"client{client}.msg{index}@{domain}", domain
    msg = EmailMessage()
    msg["From"] = f"Customer {client}-{index} <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = f"Load test {run} client {client} message {index}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{run}.{client}.{index}@{host}>"
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


@dataclass(frozen=True)
class Mode:
    """One verification mode: Echo's settings for it, and how its messages are made.

    ``off``: the unsigned customers.bench.test senders. ``on``: senders at
    ``domain``, each message DKIM-signed by ``sign``; ``overhead`` (the
    signature's size) is taken off the body so the messages stay ``size`` bytes.
    """

    verify: str
    env: dict[str, str]
    domain: str | None = None
    sign: Callable[[bytes], bytes] | None = None
    overhead: int = 0

    def message(self, client: int, index: int, size: int, run: str) -> tuple[str, bytes]:
        if self.sign is None:
            return make_message(client, index, size, run, self.domain)
        sender, raw = make_message(client, index, size - self.overhead, run, self.domain)
        return sender, self.sign(raw)


MODE_OFF = Mode("off", {"ECHODESK_VERIFY_MAIL": "false"})


def mode_on(zone: DnsZone, size: int, dns_timeout: float) -> Mode:
    """Verification on, asking ``zone``; good.test senders signed with the zone's key."""

    def sign(raw: bytes) -> bytes:
        return zone.sign(raw, SIGNED_DOMAIN)

    _, probe = make_message(0, 0, size, "probe", SIGNED_DOMAIN)
    env = {
        "ECHODESK_VERIFY_MAIL": "true",
        "ECHODESK_DNS_RESOLVER": zone.server,
        "ECHODESK_DNS_TIMEOUT": str(dns_timeout),
    }
    return Mode("on", env, SIGNED_DOMAIN, sign, len(sign(probe)) - len(probe))


def start_zone(ttl: int) -> DnsZone:
    """The DNS test zone of tests/support/dnszone.py, its answers valid ``ttl`` seconds."""
    from tests.support import dnszone

    return dnszone.start_dns(ttl=max(ttl, 0))


def zone_ttl(zone: DnsZone) -> int:
    """The TTL the zone gives good.test's SPF record (what Echo's resolver may cache)."""
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = zone.port
    answer = resolver.resolve(SIGNED_DOMAIN, "TXT")
    assert answer.rrset is not None
    return int(answer.rrset.ttl)


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
    port: int, clients: int, messages: int, size: int, run: str, mode: Mode
) -> tuple[list[ClientLog], float]:
    """All clients at once; returns their logs and the wall time of the sending phase.

    Every message is built (and signed) before the clients start: not timed.
    """
    logs = [ClientLog() for _ in range(clients)]
    mails = [[mode.message(c, i, size, run) for i in range(messages)] for c in range(clients)]
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
    """One run (backend, verification mode, round): the sending phase, the latencies,
    the pipeline's catch-up and what Echo's verification recorded."""

    backend: str
    verify: str  # "off" or "on"
    round: int
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
    sender_auth: dict[str, int] = field(default_factory=dict)  # inbound messages per value
    own_auth_results: str | None = None  # Echo's Authentication-Results on the first message
    auth_problems: list[str] = field(default_factory=list)  # why verification looks wrong
    #: DATA latencies of every client's messages after its first (no cold start: the first
    #: message of each connection meets a freshly started server, all of them at once)
    data_ms_after_first: dict[str, float] = field(default_factory=dict)
    data_samples: list[float] = field(default_factory=list, repr=False)
    later_samples: list[float] = field(default_factory=list, repr=False)
    transaction_samples: list[float] = field(default_factory=list, repr=False)

    @property
    def expected(self) -> int:
        return self.clients * self.messages_per_client

    @property
    def complete(self) -> bool:
        return self.errors == 0 and self.accepted == self.expected == self.tickets

    @property
    def verified_as_set(self) -> bool:
        """Echo checked the senders with verification on, and did not with it off."""
        return not self.auth_problems

    @property
    def ok(self) -> bool:
        return self.complete and self.verified_as_set


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


def echo_process(work: Path, url: str | None, settings: dict[str, str]) -> EchoProcess:
    """``echodesk serve`` set up by tests/support/serve.py, with this benchmark's settings.

    No ``ECHODESK_*`` variable leaks in from the caller's shell (a stray
    ECHODESK_DATABASE_URL would send the SQLite run elsewhere); ``settings``
    (the verification mode's) are set explicitly.
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
    env.update(settings)
    echo.env = env
    return echo


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sender_auth_counts(echo: EchoProcess) -> tuple[dict[str, int], list[str]]:
    """How many inbound messages have each ``sender_auth``, and Echo's own
    ``Authentication-Results`` of each (``echodesk show --all --json``)."""
    out = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "show", "--all", "--json"],
        env=echo.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"echodesk show --all --json: {out.stderr.strip()[-500:]}")
    counts: Counter[str] = Counter()
    results: list[str] = []
    for line in out.stdout.splitlines():
        if line.strip():
            for message in json.loads(line)["messages"]:
                if message["direction"] == "inbound":
                    counts[str(message.get("sender_auth"))] += 1
                    results.append(str(message.get("auth_results") or ""))
    return dict(counts), results


def verification_check(
    echo: EchoProcess, verify: str
) -> tuple[dict[str, int], str | None, list[str]]:
    """Whether Echo checked the senders as configured: (sender_auth counts, Echo's
    Authentication-Results on the first message, problems; none when all is well).

    On: every inbound message ``sender_auth`` "pass", and Echo's results say
    spf=pass, dkim=pass and dmarc=pass. Off: every message "none", no results of Echo's.
    """
    problems: list[str] = []
    try:
        counts, results = sender_auth_counts(echo)
    except (RuntimeError, OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
        return {}, None, [f"could not read sender_auth: {type(exc).__name__}: {exc}"]
    total = sum(counts.values())
    want = "pass" if verify == "on" else "none"
    if total == 0 or counts.get(want, 0) != total:
        problems.append(f"sender_auth should be {want!r} on all {total} messages: {counts}")
    header = results[0] if results and results[0] else None
    if verify == "off" and any(results):
        problems.append(f"verification off, yet Echo's Authentication-Results: {header}")
    if verify == "on":
        for method in ("spf", "dkim", "dmarc"):
            failing = sum(1 for r in results if not re.search(rf"\b{method}=pass\b", r))
            if failing:
                problems.append(f"{failing} messages without {method}=pass in Echo's results")
    return counts, header, problems


def bench_backend(
    backend: str,
    url: str | None,
    notes: str,
    work: Path,
    args: argparse.Namespace,
    mode: Mode,
    round_no: int,
) -> Result:
    """Start ``echodesk serve``, send, wait for the tickets, stop it, check, and sum up."""
    echo = echo_process(work, url, mode.env)
    try:
        echo.start()
    except Exception:
        if echo.proc is not None and echo.proc.poll() is None:
            echo.kill()  # it never listened: do not leave it running
        raise
    try:
        run = f"{backend}-{mode.verify}{round_no}-{os.getpid()}-{int(time.time())}"
        assert echo.proc is not None
        cpu_before = process_cpu(echo.proc.pid)
        logs, seconds = send_phase(echo.port, args.clients, args.messages, args.size, run, mode)
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
    counts, header, problems = verification_check(echo, mode.verify)
    errors = [e for log in logs for e in log.errors]
    data = [ms for log in logs for ms in log.data_ms]
    later = [ms for log in logs for ms in log.data_ms[1:]]
    transaction = [ms for log in logs for ms in log.transaction_ms]
    result = Result(
        backend=backend,
        verify=mode.verify,
        round=round_no,
        notes=notes,
        clients=args.clients,
        messages_per_client=args.messages,
        message_bytes=len(mode.message(0, 0, args.size, "x")[1]),
        sent=args.clients * args.messages,
        accepted=accepted,
        errors=len(errors),
        send_seconds=seconds,
        accepted_per_s=accepted / seconds,
        data_ms=summary(data),
        transaction_ms=summary(transaction),
        tickets=len(tickets),
        catch_up_seconds=catch_up,
        last_ticket_seconds=newest_ticket_after(tickets, sent_end),
        poll_seconds=poll,
        serve_cpu_seconds=(
            cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
        ),
        spool_states=dict(Counter(str(row["state"]) for row in spool)),
        error_samples=[text for text, _ in Counter(errors).most_common(5)],
        sender_auth=counts,
        own_auth_results=header,
        auth_problems=problems,
        data_ms_after_first=summary(later),
        data_samples=data,
        later_samples=later,
        transaction_samples=transaction,
    )
    print(
        f"  {backend:<10} verify {mode.verify:<3} round {round_no}: "
        f"{result.accepted_per_s:.0f} accepted/s, DATA p99 {fmt(result.data_ms['p99'])} ms, "
        f"{result.tickets}/{result.expected} tickets, sender_auth {counts}",
        flush=True,
    )
    return result


def schedule(modes: Sequence[Mode], rounds: int) -> list[tuple[int, Mode]]:
    """Round by round, each mode once: off, on, off, on ..."""
    return [(r, mode) for r in range(1, rounds + 1) for mode in modes]


def bench_sqlite(work: Path, args: argparse.Namespace, modes: Sequence[Mode]) -> list[Result]:
    notes = "SQLite file in a temp dir, WAL, synchronous=NORMAL (echodesk's own pragmas)"
    return [
        bench_backend("sqlite", None, notes, work / f"sqlite-{mode.verify}-{r}", args, mode, r)
        for r, mode in schedule(modes, args.rounds)
    ]


def bench_postgresql(work: Path, args: argparse.Namespace, modes: Sequence[Mode]) -> list[Result]:
    """The same runs against one throw-away local cluster (a database per run), stopped
    afterwards."""
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
        results = []
        for r, mode in schedule(modes, args.rounds):
            url = cluster.create_database(f"smtp_load_{mode.verify}_{r}")
            folder = work / f"postgresql-{mode.verify}-{r}"
            results.append(bench_backend("postgresql", url, notes, folder, args, mode, r))
        return results
    finally:
        cluster.stop()


# -- output -----------------------------------------------------------------------


def speed_aims(p99: float, rate: float, clients: int) -> list[tuple[str, bool | None]]:
    """The issue's two aims (None: the p99 aim is stated for 20 clients)."""
    p99_met = p99 < AIM_P99_MS if clients == AIM_CLIENTS else None
    return [
        (f"DATA p99 < {AIM_P99_MS:.0f} ms at {AIM_CLIENTS} clients (p99 {fmt(p99)} ms)", p99_met),
        (f">= {AIM_RATE:.0f} accepted messages/s ({rate:.0f}/s)", rate >= AIM_RATE),
    ]


def aims(result: Result) -> list[tuple[str, bool | None]]:
    """Each aim with whether this run met it, and its checks."""
    return [
        *speed_aims(result.data_ms["p99"], result.accepted_per_s, result.clients),
        (
            f"tickets == clients x messages ({result.tickets} of {result.expected})",
            result.complete,
        ),
        (
            f"verification {result.verify}: sender_auth "
            + ", ".join(f"{k} {v}" for k, v in sorted(result.sender_auth.items())),
            result.verified_as_set,
        ),
    ]


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "MISSED")


def print_rows(head: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """A table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        cells = zip(row, widths, strict=True)
        line = "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells))
        print(indent + line)


def print_table(results: list[Result]) -> None:
    head = (
        "backend",
        "verify",
        "round",
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
            r.verify,
            str(r.round),
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
    print("\nEach run:")
    print_rows(head, rows)


# -- side by side ---------------------------------------------------------------------

#: (key, label, digits) of the side-by-side rows; every one gets an on/off ratio.
FIGURES = (
    ("accepted_per_s", "accepted/s", 0),
    ("data_p50_ms", "DATA p50 ms", 1),
    ("data_p95_ms", "DATA p95 ms", 1),
    ("data_p99_ms", "DATA p99 ms", 1),
    ("data_p99_ms_after_first", "DATA p99 ms, 2nd+ msg", 1),
    ("transaction_p99_ms", "txn p99 ms", 1),
    ("serve_cpu_ms_per_message", "serve CPU ms/msg", 2),
)


def pooled(runs: Sequence[Result]) -> dict[str, float]:
    """One mode's runs on one backend taken together: accepted/s over their summed sending
    time, percentiles over all their latencies, serve CPU per accepted message."""
    seconds = sum(r.send_seconds for r in runs)
    accepted = sum(r.accepted for r in runs)
    data = [ms for r in runs for ms in r.data_samples]
    cpus = [r.serve_cpu_seconds for r in runs]
    cpu = (
        1000 * sum(c for c in cpus if c is not None) / accepted
        if accepted and all(c is not None for c in cpus)
        else math.nan
    )
    return {
        "runs": len(runs),
        "accepted": accepted,
        "accepted_per_s": accepted / seconds if seconds else math.nan,
        "data_p50_ms": percentile(data, 50),
        "data_p95_ms": percentile(data, 95),
        "data_p99_ms": percentile(data, 99),
        "data_p99_ms_after_first": percentile([ms for r in runs for ms in r.later_samples], 99),
        "transaction_p99_ms": percentile([ms for r in runs for ms in r.transaction_samples], 99),
        "serve_cpu_ms_per_message": cpu,
    }


def ratio(on: float, off: float) -> float:
    return on / off if off and not (math.isnan(on) or math.isnan(off)) else math.nan


def side_by_side(results: Sequence[Result]) -> list[dict[str, Any]]:
    """Per backend: off and on pooled over the rounds, on/off ratios, the aims with
    verification on."""
    out: list[dict[str, Any]] = []
    for backend in dict.fromkeys(r.backend for r in results):
        runs = [r for r in results if r.backend == backend]
        item: dict[str, Any] = {"backend": backend, "notes": runs[0].notes}
        for verify in MODES:
            mine = [r for r in runs if r.verify == verify]
            item[verify] = pooled(mine) if mine else None
        off, on = item["off"], item["on"]
        item["ratio_on_off"] = (
            {key: ratio(on[key], off[key]) for key, _, _ in FIGURES} if off and on else None
        )
        item["aims_verify_on"] = (
            {
                text: met
                for text, met in speed_aims(
                    on["data_p99_ms"], on["accepted_per_s"], runs[0].clients
                )
            }
            if on
            else None
        )
        item["all_runs_ok"] = all(r.ok for r in runs)
        out.append(item)
    return out


def print_side_by_side(items: Sequence[dict[str, Any]], rounds: int) -> None:
    for item in items:
        print(f"\n{item['backend']}, verification off and on side by side", end="")
        print(f" ({rounds} rounds each, pooled):" if rounds > 1 else ":")
        print(textwrap.fill(item["notes"], 92, initial_indent="  ", subsequent_indent="  "))
        modes = [m for m in MODES if item[m] is not None]
        head = ["", *(f"verify {m}" for m in modes)]
        if item["ratio_on_off"] is not None:
            head.append("on/off")
        rows = []
        for key, label, digits in FIGURES:
            row = [label, *(fmt(item[m][key], digits) for m in modes)]
            if item["ratio_on_off"] is not None:
                row.append(fmt(item["ratio_on_off"][key], 2))
            rows.append(row)
        print()
        print_rows(head, rows, indent="  ")
        if item["aims_verify_on"] is not None:
            print("  aims with verification on:")
            for text, met in item["aims_verify_on"].items():
                print(f"  {verdict(met):>6}: {text}")
        checks = "every run" if item["all_runs_ok"] else "NOT every run"
        print(f"  tickets and verification checks passed in {checks}")


def print_legend(size: int) -> None:
    print(
        f"\nDATA: from handing the end of DATA (message + CRLF.CRLF, ~{size} bytes, one\n"
        "send() on loopback) to the socket to the reply, in ms; Echo replies 250 only after\n"
        "its sender checks (verification on) and the spool commit. txn: MAIL FROM to the\n"
        "DATA reply (MAIL, RCPT, DATA/354, payload, reply). accepted/s: 250 replies / wall\n"
        "time from the barrier release to the last reply. catch-up: from the end of sending\n"
        "until 'echodesk tickets --json' listed every message as a ticket (the pipeline\n"
        "worker runs in the serve process). serve CPU: the serve process's CPU time during\n"
        "the sending phase (receiver and worker) per accepted message. 2nd+ msg: without\n"
        "each client's first message (those meet a freshly started server all at once).\n"
        "The load generator's threads and dnsmasq run on the same machine and are part of\n"
        "the figures."
    )


def print_details(result: Result) -> None:
    print(f"\n{result.backend}, verification {result.verify}, round {result.round}:")
    print(
        f"  {result.sent} messages of {result.message_bytes} bytes sent in "
        f"{result.send_seconds:.2f} s, {result.accepted} accepted, {result.errors} errors"
    )
    later = result.data_ms_after_first
    print(
        f"  DATA of each client's 2nd and later messages: p50 {fmt(later['p50'])}, "
        f"p95 {fmt(later['p95'])}, p99 {fmt(later['p99'])}, max {fmt(later['max'])} ms"
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
    print(f"  Echo's Authentication-Results on the first message: {result.own_auth_results}")
    for sample in result.error_samples:
        print(f"  error: {sample}")
    for problem in result.auth_problems:
        print(f"  verification problem: {problem}")
    for text, met in aims(result):
        note = " - not this run's client count" if met is None else ""
        if result.verify == "off" and text.startswith(("DATA p99", ">=")):
            note += " (the aims are for verification on; for reference)"
        print(f"  {verdict(met):>6}: {text}{note}")


# -- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent SMTP connections")
    parser.add_argument("--messages", type=int, default=25, help="messages per client")
    parser.add_argument("--only", choices=BACKENDS, help="run one backend only")
    parser.add_argument(
        "--verify",
        choices=("on", "off", "both"),
        default="both",
        help="Echo's sender verification (DKIM/SPF/DMARC) on, off, or both interleaved",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs per mode and backend (off, on, off, on ...)"
    )
    parser.add_argument(
        "--dns-ttl",
        type=int,
        default=300,
        help="TTL of the test zone's answers (0: the zone as the tests run it, nothing cached)",
    )
    parser.add_argument(
        "--dns-timeout", type=float, default=3.0, help="ECHODESK_DNS_TIMEOUT with verification on"
    )
    parser.add_argument("--size", type=int, default=3000, help="approximate message bytes")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the pipeline"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.messages < 1 or args.rounds < 1:
        parser.error("--clients, --messages and --rounds must be at least 1")
    return args


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="echodesk-smtp-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"\nkept {path} (serve.log per run)")
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def dns_zone(wanted: bool, ttl: int) -> Iterator[DnsZone | None]:
    """The test zone, started once for every ``on`` run (None when no run needs it)."""
    if not wanted:
        yield None
        return
    zone = start_zone(ttl)
    try:
        yield zone
    finally:
        zone.stop()


def no_nan(value: Any) -> Any:
    """``value`` with NaN floats as None (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [no_nan(v) for v in value]
    return value


def as_json(result: Result) -> dict[str, Any]:
    item = asdict(result)
    del item["data_samples"], item["later_samples"], item["transaction_samples"]
    item["expected"] = result.expected
    item["verified_as_set"] = result.verified_as_set
    item["ok"] = result.ok
    item["aims"] = {text: met for text, met in aims(result)}
    return item


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = MODES if args.verify == "both" else (args.verify,)
    results: list[Result] = []
    with dns_zone("on" in wanted, args.dns_ttl) as zone:
        modes = [
            mode_on(zone, args.size, args.dns_timeout) if v == "on" and zone else MODE_OFF
            for v in wanted
        ]
        print(
            f"{args.clients} clients x {args.messages} messages of ~{args.size} bytes, "
            f"echodesk serve on 127.0.0.1, {os.cpu_count()} CPUs (clients, server, dnsmasq "
            "and PostgreSQL share them)"
        )
        order = ", ".join(m.verify for m in modes)
        print(f"verification {order}, interleaved, {args.rounds} round(s) per backend")
        if zone is not None:
            print(
                f"DNS: tests/support/dnszone.py's zone (dnsmasq) at {zone.server}, answers' TTL "
                f"{zone_ttl(zone)} s, Echo's DNS timeout {args.dns_timeout} s; 'on' messages "
                f"From/MAIL FROM clientC.msgI@{SIGNED_DOMAIN} from 127.0.0.1, DKIM-signed "
                f"(s=sel, +{modes[-1].overhead} bytes, body shortened to match)"
            )
        with workspace(args.keep) as work:
            if args.only in (None, "sqlite"):
                results += bench_sqlite(work, args, modes)
            if args.only in (None, "postgresql"):
                results += bench_postgresql(work, args, modes)
    print_legend(args.size)
    print_table(results)
    items = side_by_side(results)
    print_side_by_side(items, args.rounds)
    for result in results:
        print_details(result)
    if args.json:
        payload = {"runs": [as_json(r) for r in results], "side_by_side": items}
        print(json.dumps(no_nan(payload)))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
