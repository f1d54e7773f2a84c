"""Group commit of received mail: messages arriving together share a commit, each
receiver is answered with its own row, and a bad message fails alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.desk.intake.groupcommit import GroupCommit
from echodesk.store.models import InboundSpool
from tests.support.desk import Desk
from tests.support.mail import make_mail


class _Slow:
    """A write that takes a while and records the groups it was given."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.groups: list[list[str]] = []
        self.started = threading.Event()
        self._next = 100

    def __call__(self, items: Sequence[str]) -> list[int]:
        self.started.set()
        time.sleep(self.seconds)
        if any(item.startswith("bad") for item in items):
            raise ValueError(f"cannot store {[i for i in items if i.startswith('bad')]}")
        self.groups.append(list(items))
        ids = list(range(self._next, self._next + len(items)))
        self._next += len(items)
        return ids


def _during_a_commit(write: _Slow, names: list[str]) -> dict[str, Future[int]]:
    """``first`` submitted alone, then ``names`` while its commit runs: each one's id."""
    group: GroupCommit[str] = GroupCommit(write)
    pool = ThreadPoolExecutor(len(names) + 1)
    first = pool.submit(group.submit, "first")
    assert write.started.wait(5)
    submitted = {name: pool.submit(group.submit, name) for name in names}
    pool.shutdown(wait=False)
    return {"first": first, **submitted}


def test_messages_that_arrive_during_a_commit_share_the_next_one() -> None:
    write = _Slow(0.2)
    names = [f"m{n}" for n in range(9)]
    ids = {name: f.result(timeout=10) for name, f in _during_a_commit(write, names).items()}
    assert write.groups[0] == ["first"]
    assert len(write.groups) == 2 and sorted(write.groups[1]) == names
    assert sorted(ids.values()) == list(range(100, 110))  # each thread got its own id
    assert [ids[item] for item in write.groups[1]] == list(range(101, 110))


def test_a_bad_message_in_a_group_fails_alone() -> None:
    write = _Slow(0.1)
    futures = _during_a_commit(write, ["a", "bad-1", "b", "c"])
    assert futures["first"].result(timeout=10) == 100
    with pytest.raises(ValueError, match="bad-1"):
        futures["bad-1"].result(timeout=10)
    stored = {name: futures[name].result(timeout=10) for name in ("a", "b", "c")}
    assert sorted(stored.values()) == [101, 102, 103]
    assert sorted(item for g in write.groups for item in g) == ["a", "b", "c", "first"]


def test_receivers_at_once_each_get_the_row_holding_their_own_message(
    db_url: str, tmp_path: Path
) -> None:
    desk = Desk(db_url, tmp_path / "data")
    try:
        mails = [
            make_mail(message_id=f"r{n}@c.test", subject=f"S{n}", sender=f"c{n}@customer.test")
            for n in range(40)
        ]
        mails += [mails[0]]  # the same bytes twice: two rows, two ids
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(desk.accept, mails))
        assert len(set(ids)) == len(mails)
        with desk.db.reading() as session:
            raw = {r.id: r.raw for r in session.execute(select(InboundSpool.id, InboundSpool.raw))}
        assert len(raw) == len(mails)
        assert all(raw[row_id] == mail for row_id, mail in zip(ids, mails, strict=True))
        outcomes = desk.run_worker_until_idle()
        assert sum(o.created_ticket for o in outcomes) == 40
    finally:
        desk.close()
