"""Scale-out benchmark: N worker processes, no shared disk, one PostgreSQL, one blob store.

For each N (default 1, 2, 4) it makes a fresh database in a throw-away
PostgreSQL cluster (``tests/support/postgres.py``), spools the same generated
mailbox into it (conversations of a first message and replies, every second
message with a PDF-like attachment of 20-200 KB; ``--big`` adds messages over
``spool_inline_limit`` so their raw bytes live in the blob store too), then
starts N ``echodesk worker --until-idle`` processes at once, each with its own
empty data folder, and times them until the last one exits. The blob store is
the database (``blob_store: database``, the default with PostgreSQL) or, with
``--s3``, an S3-protocol server (moto's standalone server on loopback).

It prints messages/s per N and the speed-up over N=1 measured in the same run,
and checks, for every N, that every spooled message was processed exactly once
(every spool row ``processed``, one stored message per row) and that every
attachment reads back byte for byte, sha256 checked, from a fresh process with
a third, empty data folder. Exit status 1 if a check fails.

Run from the repository root::

    .venv/bin/python bench/scale.py [--workers 1,2,4] [--conversations 300] [--s3] [--big 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import PgCluster, start_cluster  # noqa: E402

CHECK = r"""
import hashlib, json, sys
from sqlalchemy import select
from echodesk.config import load
from echodesk.desk.context import DeskContext
from echodesk.store.db import Database
from echodesk.store.models import Attachment
settings = load()
db = Database(settings.effective_database_url())
ctx = DeskContext.for_settings(settings)
bad, count = [], 0
with db.reading() as session:
    for key, sha in session.execute(select(Attachment.storage_key, Attachment.sha256)):
        count += 1
        try:
            data = ctx.blobs.get(key)
        except KeyError:
            bad.append(key); continue
        if hashlib.sha256(data).hexdigest() != sha:
            bad.append(key)
print(json.dumps({"attachments": count, "bad": bad[:5], "bad_count": len(bad)}))
"""

STATES = """
import json
from sqlalchemy import func, select
from echodesk.config import load
from echodesk.store.db import Database
from echodesk.store.models import InboundSpool, Message
db = Database(load().effective_database_url())
with db.reading() as s:
    by_state = select(InboundSpool.state, func.count()).group_by(InboundSpool.state)
    states = dict(s.execute(by_state).all())
    inbound_only = Message.direction == "inbound"
    inbound = s.scalar(select(func.count()).select_from(Message).where(inbound_only))
    spooled = s.scalar(select(func.count(func.distinct(Message.spool_id))))
print(json.dumps({"states": states, "inbound": inbound, "distinct_spool_ids": spooled}))
"""


def mailbox(conversations: int, big: int, seed: int = 7) -> list[bytes]:
    """Seeded conversations (a first message and 0-3 replies), every 2nd with a file."""
    rng = random.Random(seed)
    out: list[bytes] = []
    n = 0
    for conv in range(conversations):
        parent = ""
        for reply in range(rng.randint(1, 4)):
            n += 1
            msg = EmailMessage()
            msg["From"] = f"Customer {conv} <c{conv}@customers.scale.test>"
            msg["To"] = "support@desk.test"
            msg["Subject"] = ("Re: " if reply else "") + f"Order {conv} did not arrive"
            msg["Message-ID"] = f"<m{n}.{conv}@customers.scale.test>"
            msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
            if parent:
                msg["In-Reply-To"] = parent
                msg["References"] = parent
            msg.set_content(f"Hello, about order {conv}, message {reply}.\n" * 20)
            if n % 2 == 0:
                size = rng.randint(20_000, 200_000)
                data = b"%PDF-1.4\n" + rng.randbytes(size)
                msg.add_attachment(
                    data, maintype="application", subtype="pdf", filename=f"invoice-{n}.pdf"
                )
            if n <= big:  # over spool_inline_limit: the raw bytes go to the blob store
                msg.add_attachment(
                    rng.randbytes(1_200_000),
                    maintype="application",
                    subtype="octet-stream",
                    filename=f"scan-{n}.bin",
                )
            out.append(msg.as_bytes(policy=SMTP))
            parent = msg["Message-ID"]
    return out


def spool(env: dict[str, str], mails: list[bytes], work: Path) -> None:
    """Upgrade the schema and put every message in the spool (nothing is processed)."""
    run(env, ["db", "upgrade"])
    folder = work / "mail"
    folder.mkdir(exist_ok=True)
    for i, raw in enumerate(mails):
        (folder / f"{i:06d}.eml").write_bytes(raw)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from echodesk.config import load\n"
        "from echodesk.desk.context import DeskContext\n"
        "from echodesk.desk.intake.accept import Intake\n"
        "from echodesk.mailbox.message import Envelope\n"
        "from echodesk.store.db import Database\n"
        "s = load(); db = Database(s.effective_database_url())\n"
        "intake = Intake(db, DeskContext.for_settings(s))\n"
        "files = sorted(Path(sys.argv[1]).glob('*.eml'))\n"
        "intake.accept_many((f.read_bytes(), Envelope(source='file', source_ref=f.name))"
        " for f in files)\n"
    )
    python(env, code, str(folder))


def run(env: dict[str, str], args: list[str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"echodesk {' '.join(args)}: {out.stderr[-2000:]}")
    return out.stdout


def python(env: dict[str, str], code: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"python -c: {out.stderr[-2000:]}")
    return out.stdout


@dataclass
class Result:
    workers: int
    messages: int
    seconds: float
    states: dict[str, int]
    inbound: int
    distinct_spool_ids: int
    attachments: int
    bad_attachments: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def problems(self) -> list[str]:
        found = []
        if self.states != {"processed": self.messages}:
            found.append(f"spool states {self.states}, expected {self.messages} processed")
        if self.inbound != self.messages or self.distinct_spool_ids != self.messages:
            found.append(
                f"{self.inbound} inbound messages from {self.distinct_spool_ids} spool rows, "
                f"expected {self.messages} each (exactly once)"
            )
        if self.bad_attachments:
            found.append(f"{self.bad_attachments} attachments missing or corrupted")
        return found


def drain(env: dict[str, str], workers: int, work: Path) -> float:
    """N workers at once, each with its own empty data folder; seconds until all are done."""
    procs = []
    started = time.monotonic()
    for i in range(workers):
        own = dict(env, ECHODESK_DATA_DIR=str(work / f"worker-{i}"))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "echodesk.cli", "worker", "--until-idle"],
                env=own,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited {proc.returncode}: {err[-2000:]}")
    return time.monotonic() - started


def one(cluster: PgCluster, workers: int, mails: list[bytes], base: dict[str, str]) -> Result:
    name = f"scale{workers}_{os.getpid()}"
    url = cluster.create_database(name)
    work = Path(tempfile.mkdtemp(prefix=f"echoscale{workers}-"))
    env = dict(base, ECHODESK_DATABASE_URL=url, ECHODESK_DATA_DIR=str(work / "loader"))
    try:
        spool(env, mails, work)
        seconds = drain(env, workers, work)
        counted = json.loads(python(env, STATES))
        fresh = dict(env, ECHODESK_DATA_DIR=str(work / "reader"))
        read = json.loads(python(fresh, CHECK))
        return Result(
            workers,
            len(mails),
            seconds,
            counted["states"],
            counted["inbound"],
            counted["distinct_spool_ids"],
            read["attachments"],
            read["bad_count"],
        )
    finally:
        cluster.drop_database(name)


def base_env(s3: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHODESK_")}
    env.pop("DATABASE_URL", None)
    env.update(
        ECHODESK_CONFIG=os.devnull,
        ECHODESK_SUPPORT_ADDRESS="support@desk.test",
        ECHODESK_BLOB_STORE="database",
        ECHODESK_VERIFY_MAIL="false",
        ECHODESK_FLOOD_LIMIT="0",
        PYTHONPATH=str(ROOT),
    )
    if s3 is not None:
        env.update(s3)
    return env


def start_s3() -> tuple[Any, dict[str, str]]:
    """moto's S3 server on loopback and the settings that point Echo at a bucket in it."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(
        Bucket="echo-scale"
    )
    return server, {
        "ECHODESK_BLOB_STORE": "s3://echo-scale/blobs",
        "ECHODESK_S3_ENDPOINT_URL": endpoint,
        "ECHODESK_S3_REGION": "us-east-1",
        "ECHODESK_S3_ACCESS_KEY_ID": "bench",
        "ECHODESK_S3_SECRET_ACCESS_KEY": "bench",
        "ECHODESK_S3_ADDRESSING_STYLE": "path",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--big", type=int, default=5, help="messages over 1 MB (raw in blobs)")
    parser.add_argument("--s3", action="store_true", help="blobs in moto's S3 server")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    mails = mailbox(args.conversations, args.big)
    size = sum(len(m) for m in mails)
    server, s3 = start_s3() if args.s3 else (None, None)
    cluster = start_cluster()
    results: list[Result] = []
    try:
        base = base_env(s3)
        print(
            f"{len(mails)} messages ({size / 1e6:.1f} MB), blob store "
            f"{base['ECHODESK_BLOB_STORE']}, {os.cpu_count()} CPUs, one PostgreSQL"
        )
        for n in counts:
            result = one(cluster, n, mails, base)
            results.append(result)
            print(
                f"  N={n}: {result.rate:7.1f} msg/s ({result.seconds:.2f} s), "
                f"{result.attachments} attachments read back by a fresh process"
            )
    finally:
        cluster.stop()
        if server is not None:
            server.stop()
    first = results[0].rate if results else 0.0
    print("\n  workers   msg/s   speed-up over N=1")
    for r in results:
        print(f"  {r.workers:7d} {r.rate:7.1f}   {r.rate / first if first else 0:.2f}x")
    problems = [f"N={r.workers}: {p}" for r in results for p in r.problems()]
    for p in problems:
        print("  PROBLEM:", p)
    print(
        "  every message stored exactly once, every attachment readable: "
        + ("no" if problems else "yes")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
