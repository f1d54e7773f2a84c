"""A long-running worker keeps its SQLite write transactions short, so receivers,
which must commit each message before answering 250, never wait long behind it."""

from __future__ import annotations

from echodesk.desk.intake.worker import SQLITE_WRITE_SECONDS, BatchSizer, Worker
from echodesk.store import readmodels
from tests.support.desk import Desk
from tests.support.mail import make_mail


def test_a_slow_machine_gets_small_batches_and_a_fast_one_full_batches() -> None:
    sizer = BatchSizer(100, budget=0.015)
    assert sizer.size() == BatchSizer.FIRST  # nothing known yet: a small first batch
    sizer.record(10, 0.100)  # 10 ms a row: the budget holds one or two
    assert sizer.size() == BatchSizer.FEWEST
    for _ in range(20):
        sizer.record(50, 0.010)  # 0.2 ms a row: 75 fit in the budget
    assert 60 <= sizer.size() <= 75
    for _ in range(20):
        sizer.record(100, 0.001)
    assert sizer.size() == 100  # never more than the configured batch


def test_without_a_budget_every_batch_is_full() -> None:
    sizer = BatchSizer(100, budget=None)
    sizer.record(100, 5.0)
    assert sizer.size() == 100


def test_serve_worker_on_sqlite_takes_bounded_batches_and_loses_nothing(desk: Desk) -> None:
    for i in range(30):
        desk.accept(make_mail(message_id=f"m{i}@customer.test", sender=f"c{i}@customer.test"))
    worker = Worker(desk.db, desk.ctx, shared_lock=True)
    batches = []
    while outcomes := worker.run_once():
        batches.append(len(outcomes))
    assert sum(batches) == 30
    with desk.db.reading() as session:
        counts = readmodels.spool_counts(session)
        assert counts["processed"] == 30, list(counts.items())
    assert len(desk.tickets()) == 30
    if desk.db.is_postgres:
        assert batches == [30]  # writers do not wait for each other there
    else:
        assert batches[0] == BatchSizer.FIRST
        assert len(batches) >= 2 and max(batches) <= 30
        assert worker.sizer.budget == SQLITE_WRITE_SECONDS
