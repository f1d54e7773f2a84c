"""A batch written at once stores exactly what the same rows written one by one store.

On PostgreSQL a batch's rows travel as one array a column in one statement;
these tests hold that path to SQLAlchemy's own ``insert()`` / ``update()`` of
the same rows: defaults filled in, times kept as the same instant, JSON and
bytes intact, large numbers whole, clashes skipped, the last update kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from echodesk.store import migrate, spool, writes
from echodesk.store.blobs import LocalBlobStore
from echodesk.store.db import Database
from echodesk.store.models import AuditLog, Customer, InboundSpool
from echodesk.store.spool import Arrival

BERLIN = timezone(timedelta(hours=2))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    migrate.upgrade(database)
    yield database
    database.dispose()


def _audit_rows(actor: str) -> list[dict[str, Any]]:
    return [
        {
            "at": datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),
            "actor": actor,
            "action": "ticket.tagged",
            "target_type": "ticket",
            "target_id": "7",
            "ticket_id": None,
            "payload": {"tags": ["vip", "rückruf"], "n": 2**40, "none": None},
        },
        {
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "actor": actor,
            "action": "ticket.closed",
            "target_type": "ticket",
            "target_id": "9" * 80,
            "ticket_id": None,
            "payload": {"quote": 'it\'s "done", {braces} and \\ back'},
        },
    ]


def _defaulted(actor: str) -> list[dict[str, Any]]:
    """Rows with no time and no payload: the columns' defaults fill them."""
    return [
        {"actor": actor, "action": "ticket.viewed", "target_type": "ticket", "target_id": str(n)}
        for n in range(2)
    ]


def _audit(session: Session, actor: str) -> list[tuple[Any, ...]]:
    stmt = (
        select(AuditLog.at, AuditLog.action, AuditLog.target_id, AuditLog.payload)
        .where(AuditLog.actor == actor)
        .order_by(AuditLog.id)
    )
    return [tuple(row) for row in session.execute(stmt)]


def test_a_batch_of_rows_reads_back_as_the_same_rows_inserted_one_by_one(db: Database) -> None:
    before = datetime.now(UTC)
    with db.transaction() as session:
        writes.insert_rows(session, AuditLog, _audit_rows("batch"))
        writes.insert_rows(session, AuditLog, _defaulted("batch"))
        session.execute(insert(AuditLog), _audit_rows("one-by-one"))
        session.execute(insert(AuditLog), _defaulted("one-by-one"))
    with db.reading() as session:
        batch, single = _audit(session, "batch"), _audit(session, "one-by-one")
    assert len(batch) == 4
    assert batch[0][0] == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert batch[0][3] == {"tags": ["vip", "rückruf"], "n": 2**40, "none": None}
    assert batch[1][2] == "9" * 80
    assert batch[1][3] == {"quote": 'it\'s "done", {braces} and \\ back'}
    assert batch[2][3] == batch[3][3] == {}  # the default payload
    assert before <= batch[2][0] <= datetime.now(UTC)  # the default time: now
    assert [r[1:] for r in batch] == [r[1:] for r in single]
    assert [r[0] for r in batch[:2]] == [r[0] for r in single[:2]]


def _spool_row(raw: bytes, size: int, rcpt: list[str]) -> dict[str, Any]:
    return {
        "source": "smtp",
        "raw": raw,
        "raw_key": None,
        "raw_sha256": f"{size:064d}",
        "size": size,
        "rcpt_to": rcpt,
        "received_at": datetime(2026, 5, 1, 12, tzinfo=UTC),
    }


def _spool(db: Database, *columns: Any) -> list[tuple[Any, ...]]:
    """These columns of every spool row, oldest first."""
    with db.reading() as session:
        found = session.execute(select(*columns).order_by(InboundSpool.id))
        return [tuple(r) for r in found]


def test_bytes_lists_and_numbers_past_32_bits_are_kept_whole(db: Database) -> None:
    rows = [
        _spool_row(b"small", 5, ["support@example.test"]),
        _spool_row(b"\x00\xff\r\n.\r\n" * 3, 5_000_000_000, []),
        _spool_row(b"", 0, ["a@example.test", "b@example.test"]),
    ]
    with db.transaction() as session:
        writes.insert_rows(session, InboundSpool, rows)
    stored = _spool(
        db,
        InboundSpool.raw,
        InboundSpool.size,
        InboundSpool.rcpt_to,
        InboundSpool.state,
        InboundSpool.attempts,
    )
    assert stored == [
        (b"small", 5, ["support@example.test"], "pending", 0),
        (b"\x00\xff\r\n.\r\n" * 3, 5_000_000_000, [], "pending", 0),
        (b"", 0, ["a@example.test", "b@example.test"], "pending", 0),
    ]


def _customers(session: Session) -> dict[str, tuple[str, datetime]]:
    stmt = select(Customer.email, Customer.display_name, Customer.last_seen_at)
    return {e: (n, t) for e, n, t in session.execute(stmt)}


def test_a_clash_skips_the_row_and_the_last_update_of_a_row_wins(db: Database) -> None:
    seen = datetime(2026, 6, 1, tzinfo=UTC)
    with db.transaction() as session:
        writes.insert_ignore(
            session,
            Customer,
            [
                {"email": "ann@example.test", "display_name": "Ann", "last_seen_at": seen},
                {"email": "bob@example.test", "display_name": "Bob", "last_seen_at": seen},
                {"email": "ann@example.test", "display_name": "Ann B", "last_seen_at": seen},
            ],
            ["email"],
        )
    with db.transaction() as session:
        writes.insert_ignore(
            session, Customer, [{"email": "bob@example.test", "display_name": "Robert"}], ["email"]
        )
        ids = {e: i for e, i in session.execute(select(Customer.email, Customer.id))}
        later = seen + timedelta(days=1)
        writes.update_by_id(
            session,
            Customer,
            [
                {"b_id": ids["ann@example.test"], "display_name": "Ann C", "last_seen_at": seen},
                {"b_id": ids["bob@example.test"], "display_name": "Bobby", "last_seen_at": seen},
                {"b_id": ids["ann@example.test"], "display_name": "Ann D", "last_seen_at": later},
            ],
        )
    with db.reading() as session:
        assert _customers(session) == {
            "ann@example.test": ("Ann D", later),
            "bob@example.test": ("Bobby", seen),
        }


def test_finishing_spool_rows_records_each_result_and_counts_the_attempt(db: Database) -> None:
    with db.transaction() as session:
        writes.insert_rows(
            session, InboundSpool, [_spool_row(b"one", 3, []), _spool_row(b"two", 4, [])]
        )
        first, second = session.execute(select(InboundSpool.id).order_by(InboundSpool.id)).scalars()
    done = datetime(2026, 5, 2, tzinfo=UTC)

    def result(row_id: int, state: str, detail: str) -> dict[str, Any]:
        return {
            "b_id": row_id,
            "from_header": "Ann <ann@example.test>",
            "subject": f"Subject {row_id}",
            "state": state,
            "kind": "customer",
            "message_id": f"<{row_id}@example.test>",
            "content_hash": "",
            "ticket_id": None,
            "detail": detail,
            "processed_at": done,
        }

    with db.transaction() as session:
        writes.finish_spool_rows(
            session, [result(first, "done", ""), result(second, "failed", "x")]
        )
    with db.transaction() as session:
        writes.finish_spool_rows(session, [result(second, "done", "")])
    rows = _spool(
        db,
        InboundSpool.id,
        InboundSpool.state,
        InboundSpool.attempts,
        InboundSpool.subject,
        InboundSpool.processed_at,
    )
    assert rows == [
        (first, "done", 1, f"Subject {first}", done),
        (second, "done", 2, f"Subject {second}", done),
    ]


def test_a_batch_longer_than_one_statement_keeps_every_row_once(
    db: Database, tmp_path: Path
) -> None:
    people = [
        {"email": f"c{n % 230}@example.test", "display_name": f"Customer {n}"} for n in range(260)
    ]  # 30 addresses twice: the second time, 230 rows further on, is skipped
    with db.transaction() as session:
        writes.insert_ignore(session, Customer, people, ["email"])
    with db.reading() as session:
        names = {e: n for e, (n, _) in _customers(session).items()}
    assert len(names) == 230
    assert names["c5@example.test"] == "Customer 5" and names["c229@example.test"] == "Customer 229"
    items = [(f"message {n}".encode() * (n % 3 + 1), Arrival("smtp")) for n in range(240)]
    items.append(items[7])  # the same bytes twice: two rows
    with db.writing() as conn:
        ids = spool.put_many(conn, items, LocalBlobStore(tmp_path / "blobs"), 1_000_000)
    assert len(set(ids)) == 241
    with db.reading() as session:
        stored = {i: raw for i, raw in session.execute(select(InboundSpool.id, InboundSpool.raw))}
    assert [stored[i] for i in ids] == [raw for raw, _ in items]
