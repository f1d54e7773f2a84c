"""Every statement of the ingest hot path reads through an index that does not grow.

Ingest must cost the same per message into a desk holding a million messages
as into an empty one, so no statement a batch issues may walk a table that
grows with the archive (tickets, messages, the spool, customers, ...). The
test fills a desk with a few thousand rows of each, runs one real batch
through the worker (new customers, replies, a subject tag, a bounce, an
acknowledgement, agents' notifications, an SLA clock), captures every
statement the code sends, and asks the database for each one's plan with its
real parameters: first as a desk that never had statistics plans them, then
after the desk's own statistics upkeep (``Database.keep_statistics``).

The spool's state index is the worker's queue: it may serve a statement that
looks for pending rows, never the duplicate check (which then walks every
processed row).
"""

from __future__ import annotations

import json
import mailbox as stdlib_mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, event, insert, text
from sqlalchemy.engine import Connection

from echodesk.config import SlaPolicy
from echodesk.desk.intake.pipeline import Outcome
from echodesk.store.db import Database
from echodesk.store.models import (
    Attachment,
    AuditLog,
    Base,
    Customer,
    InboundSpool,
    Message,
    MessageReference,
    Outbox,
    Ticket,
    TicketParticipant,
    TicketSla,
    TicketTag,
)
from tests.support.desk import Desk
from tests.support.mail import make_dsn, make_mail
from tests.test_cli import Cli

#: Tables that grow with the archive: a statement may only search them by an index.
GROWING = {
    "tickets",
    "messages",
    "inbound_spool",
    "customers",
    "message_references",
    "attachments",
    "outbox",
    "audit_log",
    "ticket_participants",
    "ticket_tags",
    "ticket_sla",
    "sla_results",
}
QUEUE_INDEX = "ix_inbound_spool_state_id"
#: Two messages a ticket; sizes at which PostgreSQL's planner, given true statistics,
#: prefers an index to reading a small table whole (a few pages are read faster whole).
TICKETS = 5_000
CUSTOMERS = 5_000
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


# -- a desk with an archive -------------------------------------------------------------


def _ticket_rows(n: int, customer_id: int) -> tuple[dict[str, Any], ...]:
    """Ticket ``n`` (id n+1), its customer's mail and the reply, and what they left."""
    tid, at, email = n + 1, START + timedelta(minutes=40 * n), f"c{n % CUSTOMERS}@old.test"
    ticket: dict[str, Any] = {
        "id": tid,
        "number": tid,
        "customer_id": customer_id,
        "status": ("closed", "closed", "resolved", "open", "pending")[n % 5],
        "subject": f"Old question {n}",
        "created_at": at,
        "updated_at": at + timedelta(hours=5),
        "status_changed_at": at + timedelta(hours=5),
    }
    asked: dict[str, Any] = {
        "id": 2 * n + 1,
        "ticket_id": tid,
        "direction": "inbound",
        "kind": "customer",
        "message_id": f"old{n}.0@old.test",
        "content_hash": f"{n:064x}",
        "from_email": email,
        "subject": ticket["subject"],
        "body_text": "An old message.",
        "customer_id": customer_id,
        "sent_at": at,
        "created_at": at,
    }
    answer = {**asked, "id": 2 * n + 2, "direction": "outbound", "kind": "reply"}
    answer.update(message_id=f"old{n}.1@old.test", from_email="bob@desk.test", customer_id=None)
    spool = _spool_row(asked["message_id"], asked["content_hash"], tid, at)
    sent = {"ticket_id": tid, "state": "sent", "rcpt": email, "message_id": answer["message_id"]}
    return ticket, asked, answer, spool, sent


def _insert(conn: Connection, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Write rows fast: PostgreSQL through COPY (the columns' defaults filled in here)."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(model), rows)
        return
    table = cast(Table, model.__table__)
    columns = [c for c in table.columns if c.name in rows[0] or c.default is not None]
    with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
        names = ", ".join(c.name for c in columns)
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_value(c, row) for c in columns])


def _value(column: Any, row: dict[str, Any]) -> Any:
    """The row's value for ``column``, else the column's default, as COPY takes it."""
    value = row[column.name] if column.name in row else _default(column)
    return json.dumps(value) if isinstance(value, list | dict) else value


def _default(column: Any) -> Any:
    value = column.default.arg
    if callable(value):
        value = value(None)
    return value


def _prefill(conn: Connection) -> None:
    """Every growing table holds thousands of rows, as two years of mail leave them."""
    people = [{"id": i + 1, "email": f"c{i}@old.test"} for i in range(CUSTOMERS)]
    _insert(conn, Customer, people)
    rows = [_ticket_rows(n, n % CUSTOMERS + 1) for n in range(TICKETS)]
    tickets, asked, answers, spool, sent = (list(column) for column in zip(*rows, strict=True))
    _insert(conn, Ticket, tickets)
    _insert(conn, Message, asked + answers)
    _insert(conn, InboundSpool, spool)
    _insert(conn, Outbox, sent)
    _insert(
        conn,
        MessageReference,
        [{"message_pk": m["id"], "ref_id": f"old{m['id'] // 2 - 1}.0@old.test"} for m in answers],
    )
    _insert(
        conn,
        Attachment,
        [
            {"message_pk": m["id"], "filename": "a.png", "content_type": "image/png", "size": 1}
            | {"sha256": m["content_hash"], "storage_key": m["content_hash"]}
            for m in asked[::2]
        ],
    )
    _insert(
        conn,
        AuditLog,
        [
            {"at": t["created_at"], "actor": "system", "action": "tickets.open"}
            | {"target_type": "ticket", "target_id": str(t["number"]), "ticket_id": t["id"]}
            for t in tickets
        ],
    )
    ids = [{"ticket_id": t["id"]} for t in tickets]
    _insert(
        conn,
        TicketParticipant,
        [i | {"email": m["from_email"]} for i, m in zip(ids, asked, strict=True)],
    )
    _insert(conn, TicketTag, [i | {"tag": t} for i in ids for t in ("billing", "vip")])
    _insert(conn, TicketSla, [i | {"policy": "standard"} for i in ids])
    _continue_numbering(conn)


def _continue_numbering(conn: Connection) -> None:
    """Ids and ticket numbers go on after the rows written with their own."""
    if conn.dialect.name != "postgresql":
        conn.execute(
            text("UPDATE counters SET value = :n WHERE name = 'ticket_number'"), {"n": TICKETS}
        )
        return
    conn.execute(text("SELECT setval('ticket_number_seq', :n)"), {"n": TICKETS})
    for table in ("customers", "tickets", "messages"):
        last = f"(SELECT max(id) FROM {table})"
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})"))


def _spool_row(
    message_id: str, content_hash: str, ticket_id: int | None, at: datetime
) -> dict[str, Any]:
    return {
        "source": "file",
        "received_at": at,
        "raw": b"Subject: old\r\n\r\nAn old message.\r\n",
        "raw_sha256": content_hash[:64].ljust(64, "0"),
        "size": 36,
        "state": "processed",
        "kind": "customer",
        "message_id": message_id,
        "content_hash": content_hash,
        "ticket_id": ticket_id,
        "attempts": 1,
        "next_attempt_at": at,
        "processed_at": at,
    }


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(
        db_url,
        tmp_path / "data",
        acknowledgement="We have your message, $name.",
        sla=(SlaPolicy(name="standard", first_response="4h", hours="calendar"),),
    )
    harness.add_agent("bob@desk.test", "Bob Agent")
    with harness.db.engine.begin() as conn:
        _prefill(conn)
    try:
        yield harness
    finally:
        harness.close()


def _batch(round_: int) -> list[bytes]:
    """One batch as a day's mail brings it: new customers, old ones, replies, a bounce."""
    mails = [
        make_mail(
            sender=f"New {i} <new{round_}.{i}@fresh.test>",
            subject=f"First question {i}",
            message_id=f"new{round_}.{i}@fresh.test",
            minutes=i,
        )
        for i in range(6)
    ]
    for i in range(4):
        n = 40 * i + round_
        mails.append(
            make_mail(
                sender=f"c{n % CUSTOMERS}@old.test",
                subject=f"Re: Old question {n}",
                message_id=f"reply{round_}.{i}@old.test",
                in_reply_to=f"old{n}.1@old.test",
                references=[f"old{n}.0@old.test", f"old{n}.1@old.test"],
                minutes=10 + i,
            )
        )
    mails.append(
        make_mail(
            sender=f"c{7 % CUSTOMERS}@old.test",
            subject="Again [TKT-0008]",
            message_id=f"tag{round_}@old.test",
            minutes=20,
        )
    )
    mails.append(
        make_dsn(
            failed=f"c{3 + round_}@old.test",
            message_id=f"dsn{round_}@mx.test",
            original=make_mail(message_id=f"old{3 + round_}.1@old.test"),
        )
    )
    return mails


# -- capturing and explaining --------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    statement: str
    params: Any


def _run_batch(desk: Desk, mails: list[bytes]) -> tuple[list[Sent], list[Outcome]]:
    """Accept a batch, process it with the worker: what the code sent, and the outcomes."""
    for raw in mails:
        desk.accept(raw)
    sent: list[Sent] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")):
            sent.append(Sent(statement, params[0] if many and params else params))

    event.listen(desk.db.engine, "before_cursor_execute", capture)
    try:
        outcomes = desk.run_worker_until_idle()
    finally:
        event.remove(desk.db.engine, "before_cursor_execute", capture)
    assert len(outcomes) == len(mails)
    assert all(o.state != "failed" for o in outcomes), outcomes
    return list({s.statement: s for s in sent}.values()), outcomes


def _sqlite_plan(conn: Connection, sent: Sent) -> list[str]:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sent.statement, sent.params).all()
    return [str(r[-1]) for r in rows]


def _pg_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _pg_nodes(child)


def _pg_plan(conn: Connection, sent: Sent) -> list[str]:
    """Each scan node of the plan as one line: type, relation, index, and its condition."""
    found = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sent.statement, sent.params).scalar()
    tree = found if isinstance(found, list) else json.loads(str(found))
    lines = []
    for node in _pg_nodes(tree[0]["Plan"]):
        relation = node.get("Relation Name", "")
        index = node.get("Index Name", "")
        cond = node.get("Index Cond", "")
        lines.append(f"{node['Node Type']} on {relation} using {index} cond {cond}")
    return lines


_SQLITE_SCAN = re.compile(r"^SCAN (\w+)")
_SORTED = re.compile(r"^(USE TEMP B-TREE FOR ORDER BY|Sort on|Incremental Sort on)")
_PG_SCAN = re.compile(r"^(Seq Scan|Index Scan|Index Only Scan) on (\w+) using (\w*) cond (.*)$")


def _referring(statement: str) -> set[str]:
    """The tables whose foreign keys name the table an INSERT writes.

    SQLite lists a scan of each under the INSERT's plan; it runs only while the
    statement has a foreign-key violation to settle, which immediate keys (all
    of Echo's) never leave, so those lines are not reads.
    """
    if not (m := re.match(r"\s*INSERT INTO (\w+)", statement)):
        return set()
    return {
        table.name
        for table in Base.metadata.tables.values()
        for key in table.foreign_keys
        if key.column.table.name == m.group(1)
    }


def _scans(sent: Sent, plan: list[str]) -> list[str]:
    """The lines of ``plan`` that read a growing table in a way that grows with it."""
    pending = "pending" in str(sent.params) or "'pending'" in sent.statement
    referring = _referring(sent.statement)
    bad = []
    for line in plan:
        if QUEUE_INDEX in line and not pending:
            bad.append(line)  # the queue's index walks every processed row
        m = _SQLITE_SCAN.match(line)
        if m and m.group(1) in GROWING and m.group(1) not in referring:
            bad.append(line)  # a whole table, or a whole index, read
        m = _PG_SCAN.match(line)
        if m and m.group(2) in GROWING and (m.group(1) == "Seq Scan" or not m.group(4)):
            bad.append(line)  # a whole table, or a whole index in its order
    if re.search(r"\bLIMIT\b", sent.statement) and any(_SORTED.match(line) for line in plan):
        bad.append("the first rows sorted out of every match")  # a backlog read to take a batch
    return bad


def _check_plans(desk: Desk, sent: list[Sent]) -> None:
    explain = _pg_plan if desk.db.is_postgres else _sqlite_plan
    found = []
    with desk.db.engine.connect() as conn:
        for s in sent:
            plan = explain(conn, s)
            if bad := _scans(s, plan):
                found.append(f"{' '.join(s.statement.split())[:300]}\n    " + "\n    ".join(bad))
    assert not found, "hot-path statements that scan a growing table:\n" + "\n".join(found)


# -- the tests ----------------------------------------------------------------------------


def test_no_hot_path_statement_scans_a_growing_table(desk: Desk) -> None:
    """SQLite plans without statistics (a desk that never had any), then with the desk's
    own; PostgreSQL with them, as its autovacuum keeps them (ingest analyzes at once)."""
    if desk.db.is_postgres:
        desk.db.keep_statistics(imported=TICKETS)
    else:
        sent, _ = _run_batch(desk, _batch(0))
        assert any("inbound_spool.message_id IN" in s.statement for s in sent)
        _check_plans(desk, sent)
        desk.db.keep_statistics()
    again = _batch(0)[0]  # delivered before on SQLite: a duplicate there
    sent, outcomes = _run_batch(desk, [*_batch(1), again])
    _check_plans(desk, sent)
    assert outcomes[-1].state == ("processed" if desk.db.is_postgres else "duplicate")


def _analyzed(db_url: str) -> set[str]:
    """The tables the planner has statistics for."""
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            if db.is_postgres:
                query = "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            else:
                query = "SELECT DISTINCT tbl FROM sqlite_stat1"
            return {str(t) for t in conn.exec_driver_sql(query).scalars()}
    finally:
        db.dispose()


def test_an_import_leaves_the_planner_statistics(tmp_path: Path, db_url: str) -> None:
    """``echodesk ingest`` ends by analyzing: the next batch is planned for the new size."""
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    box = stdlib_mailbox.mbox(str(tmp_path / "history.mbox"))
    for n in range(5):
        box.add(make_mail(sender=f"p{n}@fresh.test", message_id=f"imp{n}@fresh.test"))
    box.close()
    assert cli.json("ingest", str(tmp_path / "history.mbox"))["tickets_created"] == 5
    assert {"messages", "inbound_spool", "tickets", "customers"} <= _analyzed(db_url)


def test_sqlite_statistics_follow_a_table_that_grew(tmp_path: Path) -> None:
    """Analyzed when it had none, again once it more than doubled, not on every call."""
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    desk = Desk(url, tmp_path / "data")
    try:
        desk.db.keep_statistics()
        assert "messages" not in _analyzed(url)  # empty: nothing to record
        for n in range(3):
            desk.deliver(make_mail(sender=f"s{n}@fresh.test", message_id=f"s{n}@fresh.test"))
        desk.db.keep_statistics()
        assert _stat_rows(url, "inbound_spool") == 3
        with desk.db.engine.begin() as conn:
            conn.execute(insert(InboundSpool), [_spool_row(f"x{n}", "0", None, START)] * 60)
        desk.db.keep_statistics()
        assert _stat_rows(url, "inbound_spool") == 3  # 63 rows: not yet far from 3
        with desk.db.engine.begin() as conn:
            conn.execute(insert(InboundSpool), [_spool_row(f"y{n}", "0", None, START)] * 100)
        desk.db.keep_statistics()
        assert _stat_rows(url, "inbound_spool") == 163
    finally:
        desk.close()


def _stat_rows(url: str, table: str) -> int:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            stats = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,)
            ).scalars()
            return max(int(str(s).split()[0]) for s in stats)
    finally:
        db.dispose()
