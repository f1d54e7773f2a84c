"""IMAP benchmark: a Dovecot INBOX polled once, beside ``echodesk ingest`` of the same mail,
and the time from an APPEND to its ticket while Echo waits in IDLE.

A real Dovecot (Debian's package, on a loopback port, as the tests start it)
gets N generated messages (``bench/mailgen.py``, default 2,000). Then, on a
fresh SQLite desk each, side by side in one run:

* ``echodesk poll --once``: fetch every message, spool it, process it;
* ``echodesk ingest DIR``: the same messages as files.

Both print messages/s (whole process, wall clock). Last, ``echodesk serve``
polls the mailbox with IDLE, and 50 messages are appended one at a time; for
each, the time from the APPEND's answer to its spool row being processed
(its ticket written) is measured by reading the database every 10 ms; p50 and
p99 are printed.

Run from the repository root::

    .venv/bin/python bench/imap.py [--messages 2000] [--latency 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import mailgen  # noqa: E402  (bench/ is not a package)

from tests.support.dovecot import PASSWORD, Dovecot, start_dovecot  # noqa: E402
from tests.support.mail import make_mail  # noqa: E402
from tests.support.serve import EchoProcess  # noqa: E402


def _messages(count: int) -> list[bytes]:
    box = mailgen.generate(conversations=count, seed=7)
    return [m.raw for m in box.mails[:count]]


def _env(root: Path, dovecot: Dovecot | None = None, user: str = "") -> dict[str, str]:
    env = {
        **os.environ,
        "ECHODESK_DATA_DIR": str(root / "data"),
        "ECHODESK_DATABASE_URL": f"sqlite:///{root / 'echodesk.db'}",
        "ECHODESK_SUPPORT_ADDRESS": "support@bench.example",
        "ECHODESK_VERIFY_MAIL": "false",
    }
    env.pop("DATABASE_URL", None)
    if dovecot is not None:
        account = {
            "name": "bench",
            "host": dovecot.host,
            "port": dovecot.port,
            "tls": False,
            "user": user,
            "password": PASSWORD,
        }
        env["ECHODESK_IMAP"] = json.dumps([account])
    return env


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", *args], env=env, capture_output=True, text=True
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"echodesk {' '.join(args)} failed: {done.stderr[-2000:]}")
    return took


def _processed(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM inbound_spool WHERE state = 'processed'"
        ).fetchone()
    return int(row[0])


def throughput(dovecot: Dovecot, raws: list[bytes], work: Path) -> tuple[float, float]:
    """(poll --once msg/s, ingest msg/s) on the same messages."""
    user = "bench-poll@desk.test"
    with dovecot.client(user) as client:
        for raw in raws:
            client.append("INBOX", raw)
    poll_root = work / "poll"
    poll_root.mkdir()
    poll_s = _run(["poll", "--once"], _env(poll_root, dovecot, user))
    files = work / "files"
    files.mkdir()
    for n, raw in enumerate(raws):
        (files / f"{n:05d}.eml").write_bytes(raw)
    ingest_root = work / "ingest"
    ingest_root.mkdir()
    ingest_s = _run(["ingest", str(files)], _env(ingest_root))
    polled, ingested = (_processed(r / "echodesk.db") for r in (poll_root, ingest_root))
    if polled != len(raws) or ingested != len(raws):
        raise SystemExit(f"processed {polled} by poll and {ingested} by ingest of {len(raws)}")
    return len(raws) / poll_s, len(raws) / ingest_s


def latency(dovecot: Dovecot, count: int, work: Path) -> list[float]:
    """Seconds from each APPEND to its message processed, with ``serve`` in IDLE."""
    user = "bench-idle@desk.test"
    root = work / "idle"
    root.mkdir()
    env = _env(root, dovecot, user)
    echo = EchoProcess(
        root,
        ECHODESK_DATABASE_URL=env["ECHODESK_DATABASE_URL"],
        ECHODESK_IMAP=env["ECHODESK_IMAP"],
        ECHODESK_VERIFY_MAIL="false",
    ).start()
    db = root / "echodesk.db"
    times: list[float] = []
    try:
        time.sleep(3)  # the poller connects and settles into IDLE
        with dovecot.client(user) as client:
            for n in range(count):
                sender = f"Customer {n} <c{n}@customer.test>"  # one sender would be a flood
                client.append("INBOX", make_mail(message_id=f"lat{n}@customer.test", sender=sender))
                sent = time.perf_counter()
                while _processed(db) < n + 1:
                    if time.perf_counter() - sent > 120:
                        raise SystemExit(f"message {n} never arrived")
                    time.sleep(0.01)
                times.append(time.perf_counter() - sent)
    finally:
        echo.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=int, default=50)
    args = parser.parse_args()
    raws = _messages(args.messages)
    dovecot = start_dovecot()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            poll_rate, ingest_rate = throughput(dovecot, raws, work)
            print(f"messages                {len(raws)}")
            print(f"poll --once (IMAP)      {poll_rate:7.0f} msg/s")
            print(f"ingest (files)          {ingest_rate:7.0f} msg/s")
            print(f"IMAP/files              {poll_rate / ingest_rate:7.2f}")
            if args.latency:
                times = sorted(latency(dovecot, args.latency, work))
                p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
                print(
                    f"APPEND -> ticket (IDLE) p50 {statistics.median(times) * 1000:6.0f} ms"
                    f"  p99 {p99 * 1000:6.0f} ms  over {len(times)}"
                )
    finally:
        dovecot.destroy()


if __name__ == "__main__":
    main()
