"""Group commit: the messages that arrive while one commit runs share the next.

Every receiver thread must see its message committed before it answers, and
each commit waits for the database's write lock (on SQLite the worker's
transaction may hold it for a while) and, on PostgreSQL, for the disk. One
commit per message makes the threads queue: the tenth waits for nine commits.
Here the first thread with nothing ahead of it writes, in one transaction,
every message waiting at that moment; the threads that arrive meanwhile queue
up, and when it is done the next of them writes all of theirs at once. No
thread waits for a timer, so a lone message is committed as fast as before,
and nobody is told "committed" before the commit returned.

If a group's write fails, its messages are written one at a time, so a bad
message fails alone and the others are still committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Waiter(Generic[T]):
    """One thread's item, and what became of it once its group was written."""

    __slots__ = ("done", "error", "item", "row_id")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.row_id = 0
        self.error: BaseException | None = None

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return self.row_id


class GroupCommit(Generic[T]):
    """``submit`` from many threads; ``write`` commits a group and returns an id per item,
    in the items' order."""

    def __init__(self, write: Callable[[Sequence[T]], list[int]]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._queue: list[_Waiter[T]] = []
        self._writing = False

    def submit(self, item: T) -> int:
        """Commit ``item`` (with whatever else is waiting) and return its id; raises what
        the write raised if it could not be committed."""
        waiter = _Waiter(item)
        with self._changed:
            self._queue.append(waiter)
            while self._writing and not waiter.done:
                self._changed.wait()
            if waiter.done:
                return waiter.result()
            self._writing = True
            group, self._queue = self._queue, []
        try:
            self._commit(group)
        finally:
            with self._changed:
                self._writing = False
                self._changed.notify_all()
        return waiter.result()

    def _commit(self, group: list[_Waiter[T]]) -> None:
        try:
            ids = self._write([w.item for w in group])
        except Exception as exc:  # noqa: BLE001 - handed to the threads that wait on it
            if len(group) == 1:
                group[0].error = exc
            else:
                for waiter in group:  # one at a time: a bad message fails alone
                    self._commit([waiter])
        else:
            for waiter, row_id in zip(group, ids, strict=True):
                waiter.row_id = row_id
        for waiter in group:
            waiter.done = True
