"""Parsing in other processes (``echodesk ingest``, ``Worker(parse_processes=N)``): the
same desk as parsing in the worker, and a dead parsing process costs no message."""

from __future__ import annotations

import email
import mailbox as stdlib_mailbox
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from echodesk.desk.intake.worker import Worker
from echodesk.store.db import Database
from echodesk.store.models import Attachment, Customer, InboundSpool, Message, Ticket
from tests.support.desk import Desk
from tests.support.mail import make_dsn, make_mail
from tests.support.postgres import PgCluster
from tests.test_cli import Cli


@pytest.fixture
def two_db_urls(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A second fresh database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    with cluster.fresh_database("pp") as url:
        yield url


def _with_attachment(raw: bytes, n: int) -> bytes:
    original = email.message_from_bytes(raw)
    msg = EmailMessage()
    msg.set_content(f"The log of try {n} is attached.\n")
    for name in ("From", "To", "Subject", "Message-ID", "Date"):
        msg[name] = original[name]
    msg.add_attachment(f"log line {n}\n".encode() * (n + 1), "text", "plain", filename=f"l{n}.txt")
    return msg.as_bytes()


def _history(conversations: int = 40) -> list[bytes]:
    """Conversations of a first message (every third with an attachment) and two
    quoting replies, some replies before their parent; one bounce at the end."""
    mails: list[bytes] = []
    for n in range(conversations):
        sender = f"Customer {n} <c{n}@customer{n % 7}.test>"
        first = make_mail(
            message_id=f"c{n}-1@customer.test",
            subject=f"Order {n} is late",
            sender=sender,
            body=f"Where is my order {n}?\n",
            minutes=-5000 + n,
        )
        replies = [
            make_mail(
                message_id=f"c{n}-{k}@customer.test",
                subject=f"Re: Order {n} is late",
                sender=sender,
                body=f"Still waiting ({k}).\n\nOn Monday support wrote:\n> We are on it.\n",
                in_reply_to=f"c{n}-{k - 1}@customer.test",
                references=[f"c{n}-{j}@customer.test" for j in range(1, k)],
                minutes=-5000 + n + k * 60,
            )
            for k in (2, 3)
        ]
        first = _with_attachment(first, n) if n % 3 == 0 else first
        mails += [replies[0], first, replies[1]] if n % 5 == 0 else [first, *replies]
    mails.append(make_dsn(failed="c1@customer1.test", message_id="dsn-pp@mx.customer.test"))
    return mails


def _desk_of(url: str) -> list[tuple[Any, ...]]:
    """What an operator sees of a desk: tickets, their messages and attachments."""
    db = Database(url)
    try:
        with db.reading() as session:
            rows = session.execute(
                select(
                    Ticket.number,
                    Ticket.subject,
                    Ticket.status,
                    Customer.email,
                    Message.message_id,
                    Message.trimmed_text,
                    Message.sent_at,
                    Message.thread_reason,
                )
                .join(Message, Message.ticket_id == Ticket.id)
                .join(Customer, Customer.id == Ticket.customer_id, isouter=True)
                .order_by(Ticket.number, Message.message_id)
            ).all()
            files = session.execute(
                select(Message.message_id, Attachment.filename, Attachment.storage_key)
                .join(Message, Message.id == Attachment.message_pk)
                .order_by(Message.message_id)
            ).all()
        return [tuple(r) for r in rows] + [tuple(f) for f in files]
    finally:
        db.dispose()


def test_an_import_parsed_in_processes_makes_the_same_desk_as_one_parsed_in_the_worker(
    tmp_path: Path, db_url: str, two_db_urls: str
) -> None:
    path = tmp_path / "history.mbox"
    box = stdlib_mailbox.mbox(str(path))
    for raw in _history():
        box.add(raw)
    box.close()
    summaries = []
    for url, processes, folder in ((db_url, "1", "one"), (two_db_urls, "3", "three")):
        (tmp_path / folder).mkdir()
        cli = Cli(tmp_path / folder, url)
        cli.env["ECHODESK_IMPORT_BATCH"] = "7"  # many batches: replies cross them
        cli.run("db", "upgrade")
        summaries.append(cli.json("ingest", "--processes", processes, str(path)))
        kept = cli.json("blobs", "check")  # the attachments' bytes are stored too
        assert kept["missing"] == [] and kept["present"] == kept["keys"] >= 14, kept
    alone, shared = summaries
    assert alone == shared
    assert alone["read"] == 121 and alone["tickets_created"] == 40 and alone["bounces"] == 1
    assert alone["failed"] == 0 and alone["pending"] == 0
    one, three = _desk_of(db_url), _desk_of(two_db_urls)
    assert one == three
    assert sum(1 for row in one if len(row) == 3) == 14  # every attachment kept


def _parsing_children() -> list[int]:
    """This process's children forked from it (they run its own command line)."""
    me = Path("/proc/self/cmdline").read_bytes()
    found = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == me:
                    found.append(int(pid))
            except FileNotFoundError:
                continue
    return found


def test_a_parsing_process_killed_mid_import_costs_no_message(db_url: str, tmp_path: Path) -> None:
    desk = Desk(db_url, tmp_path / "data")
    try:
        before = set(_parsing_children())
        for raw in _history(10):
            desk.accept(raw)
        worker = Worker(desk.db, desk.ctx, batch=4, parse_processes=2)
        try:
            children = set(_parsing_children()) - before
            assert len(children) == 2
            first = worker.run_once()
            for pid in children:
                os.kill(pid, signal.SIGKILL)
            rest = worker.run_until_idle()
        finally:
            worker.close()
        outcomes = first + rest
        assert len(outcomes) == 31 and {o.state for o in outcomes} == {"processed"}
        assert len(desk.tickets()) == 10
        assert desk.spool("pending") == [] and desk.spool("failed") == []
        with desk.db.reading() as session:
            keys = session.scalars(select(Attachment.storage_key)).all()
        assert len(keys) == 4 and all(desk.ctx.blobs.exists(k) for k in keys)
    finally:
        desk.close()


class _Unreadable:
    """A blob store that cannot be read or written (its server is away)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("put", "put_many", "get", "stream"):
            raise RuntimeError("blob store is away")
        return getattr(self.inner, name)


def test_a_row_that_cannot_be_read_or_kept_waits_for_a_retry_and_the_rest_are_processed(
    db_url: str, tmp_path: Path
) -> None:
    desk = Desk(db_url, tmp_path / "data", spool_inline_limit=0, spool_retry_seconds=60)
    try:
        for raw in _history(3):
            desk.accept(raw)
        ctx = replace(desk.ctx, blobs=_Unreadable(desk.ctx.blobs))
        worker = Worker(desk.db, ctx, parse_processes=2)
        try:
            outcomes = worker.run_until_idle()
        finally:
            worker.close()
        assert len(outcomes) == 10 and {o.state for o in outcomes} == {"retry"}
        with desk.db.reading() as session:
            errors = session.scalars(select(InboundSpool.last_error)).all()
            assert session.scalar(select(Message.id).limit(1)) is None
        assert all("blob store is away" in e for e in errors)
    finally:
        desk.close()
