"""Ticket numbers stay unique when many writers take them at the same instant."""

from __future__ import annotations

import threading

from echodesk.store import migrate, writes
from echodesk.store.db import Database


def test_concurrent_writers_never_share_a_number(db_url: str) -> None:
    db = Database(db_url, pool_size=8)
    migrate.upgrade(db)
    taken: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def take(n: int) -> None:
        try:
            start.wait()
            for i in range(n):
                block = 1 + i % 3  # a worker takes as many numbers as its batch opens
                with db.transaction() as session:
                    numbers = writes.allocate_numbers(session, block)
                assert numbers == sorted(numbers) and len(numbers) == block
                with lock:
                    taken.extend(numbers)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    assert errors == []
    expected = 4 * sum(1 + i % 3 for i in range(50))
    assert len(taken) == expected
    assert len(set(taken)) == expected
    assert min(taken) == 1


def test_a_rolled_back_number_leaves_at_most_a_gap(db_url: str) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    try:
        with db.transaction() as session:
            first = writes.allocate_numbers(session, 1)[0]
        session = db.write_sessions()
        with session.begin():
            writes.allocate_numbers(session, 1)
            session.rollback()
        with db.transaction() as session:
            third = writes.allocate_numbers(session, 1)[0]
        assert third > first
    finally:
        db.dispose()
