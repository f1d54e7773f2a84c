"""The worker: failures are kept, retried with backoff, and can be retried by hand."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from echodesk.store import spool as spool_store
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail


def _lose_raw_bytes(desk: Desk, row_id: int) -> bytes:
    """Make a row unprocessable the way a real fault would: its bytes are missing."""
    with desk.db.transaction() as session:
        row = session.get_one(InboundSpool, row_id)
        raw = bytes(row.raw or b"")
        row.raw = None
    return raw


def _make_due(desk: Desk) -> None:
    with desk.db.transaction() as session:
        session.execute(
            update(InboundSpool).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def test_a_failing_message_is_retried_with_backoff_then_kept_failed(desk: Desk) -> None:
    desk.reconfigure(spool_max_attempts=3, spool_retry_seconds=60)
    good = desk.accept(make_mail(message_id="good@customer.test"))
    bad = desk.accept(make_mail(message_id="bad@customer.test", subject="Other"))
    raw = _lose_raw_bytes(desk, bad)

    outcomes = desk.run_worker_until_idle()
    by_id = {o.spool_id: o for o in outcomes}
    assert by_id[good].state == "processed"  # one bad message does not block others
    assert by_id[bad].state == "retry"
    row = next(r for r in desk.spool() if r["id"] == bad)
    assert row["state"] == "pending" and row["attempts"] == 1
    assert "no raw bytes" in row["last_error"]
    assert row["next_attempt_at"] is not None
    # Not due yet: the worker leaves it alone.
    assert desk.run_worker_until_idle() == []

    _make_due(desk)
    assert desk.run_worker_until_idle()[0].state == "retry"
    _make_due(desk)
    assert desk.run_worker_until_idle()[0].state == "failed"
    failed = desk.spool("failed")
    assert [r["id"] for r in failed] == [bad] and failed[0]["attempts"] == 3
    _make_due(desk)
    assert desk.run_worker_until_idle() == []  # failed rows are not picked up again

    # An operator repairs the cause and retries by hand.
    with desk.db.transaction() as session:
        session.get_one(InboundSpool, bad).raw = raw
        spool_store.retry(session, bad)
    outcome = desk.run_worker_until_idle()[0]
    assert outcome.state == "processed" and outcome.created_ticket
    assert len(desk.tickets()) == 2


def test_backoff_doubles_with_each_attempt(desk: Desk) -> None:
    desk.reconfigure(spool_max_attempts=10, spool_retry_seconds=10)
    bad = desk.accept(make_mail())
    _lose_raw_bytes(desk, bad)
    delays = []
    for _ in range(3):
        before = utcnow()
        desk.run_worker_until_idle()
        with desk.db.reading() as session:
            row = session.get_one(InboundSpool, bad)
            delays.append((row.next_attempt_at - before).total_seconds())
        _make_due(desk)
    assert [round(d / 10) for d in delays] == [1, 2, 4]


def test_large_messages_keep_their_bytes_in_the_blob_store(desk: Desk) -> None:
    desk.reconfigure(spool_inline_limit=1000)
    big = make_mail(body="x" * 5000 + "\n")
    row_id = desk.accept(big)
    with desk.db.reading() as session:
        row = session.get_one(InboundSpool, row_id)
        assert row.raw is None and row.raw_key
        assert desk.ctx.blobs.get(row.raw_key) == big
    assert desk.run_worker_until_idle()[0].created_ticket
