"""Parsing in other processes, so that a one-off import uses every core.

Parsing, trimming and classifying are pure Python work: threads cannot share
them out (the interpreter runs one at a time), processes can. The pool's
processes are forked from the worker once, so they start with its modules
and its context already loaded; a batch's rows go to them as raw bytes and
come back as :class:`~echodesk.desk.item.Item` (frozen plain data). The
children never open the database or the network: the worker reads the raw
bytes, checks the senders and stores the attachments itself (unless the blob
store is a local folder, which any process of the machine may write to: then
each child stores the attachments of what it parsed), and a
child's copy of the installation's secrets is a snapshot
(:meth:`~echodesk.store.secrets.Keyring.snapshot`), never re-read.

If a child dies or a result cannot come back, the rows are parsed in the
worker instead: a broken pool costs speed, never a message.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace

from echodesk.desk.context import DeskContext
from echodesk.desk.intake.pipeline import read_row, store_attachments
from echodesk.desk.item import Item
from echodesk.desk.loop import describe
from echodesk.errors import EchoError
from echodesk.store.spool import Claimed

log = logging.getLogger(__name__)

ParseResult = Item | Exception
#: A row to parse: the row itself (without its raw bytes) and its stamped raw bytes.
Job = tuple[Claimed, bytes]

#: The context a pool's process parses with (set once, when the process starts).
_context: DeskContext | None = None


def _adopt(ctx: DeskContext) -> None:
    global _context  # one context per child process, set as it starts
    _context = ctx


def read_all(jobs: Sequence[Job], ctx: DeskContext) -> list[ParseResult]:
    """Each job read into an Item, or the exception that stopped it (a bad message fails
    alone, in the worker's ``_process``)."""
    results: list[ParseResult] = []
    for row, raw in jobs:
        try:
            results.append(read_row(row, raw, ctx))
        except Exception as exc:  # noqa: BLE001 - recorded on the row by the worker
            results.append(exc)
    return results


def _read_in_child(jobs: list[Job]) -> list[ParseResult]:
    """The jobs read, and their attachments stored where the store may be used from here
    (files in a local folder: every process of the machine may write them)."""
    assert _context is not None, "the pool's initializer sets the context"
    read = read_all(jobs, _context)
    if _context.blobs.fork_safe:
        read = kept(read, _context)
    return [r if isinstance(r, Item) else _portable(r) for r in read]


def _portable(exc: Exception) -> Exception:
    """The exception itself if it survives the trip back to the worker, else its words."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any exception may fail to pickle, in any way
        return EchoError(describe(exc))
    return exc


class Parsing:
    """One batch's rows being parsed; :meth:`results` waits for them."""

    def __init__(
        self,
        ctx: DeskContext,
        jobs: Sequence[Job] = (),
        parts: Sequence[Future[list[ParseResult]]] = (),
        early: Mapping[int, ParseResult] | None = None,
    ) -> None:
        """``early``: the rows already decided (parsed here, or failed before parsing)."""
        self._ctx = ctx
        self._jobs = list(jobs)
        self._parts = list(parts)
        self._early = dict(early or {})

    def results(self) -> dict[int, ParseResult]:
        """Every row's result by its id, the items' attachments stored."""
        try:
            read = [result for part in self._parts for result in part.result()]
        except Exception as exc:  # noqa: BLE001 - a dead child or a result that did not pickle
            log.warning("parsing processes failed (%s); parsing here", describe(exc))
            read = kept(read_all(self._jobs, self._ctx), self._ctx)
        else:
            read = read if self._ctx.blobs.fork_safe else kept(read, self._ctx)
        results = dict(self._early)
        results.update((row.id, result) for (row, _), result in zip(self._jobs, read, strict=True))
        return results


def kept(results: list[ParseResult], ctx: DeskContext) -> list[ParseResult]:
    """``results`` once the items' attachments are stored: all together, or, if that
    fails, item by item, so that only the item whose bytes cannot be kept fails."""
    items = [r for r in results if isinstance(r, Item) and r.msg.attachments]
    try:
        store_attachments(items, ctx)
    except Exception:  # noqa: BLE001 - found again, item by item, below
        alone = {id(item) for item in items}
        return [_kept_alone(r, ctx) if id(r) in alone else r for r in results]
    return results


def _kept_alone(item: ParseResult, ctx: DeskContext) -> ParseResult:
    assert isinstance(item, Item)
    try:
        store_attachments([item], ctx)
    except Exception as exc:  # noqa: BLE001 - recorded on the row by the worker
        return exc
    return item


class ParsePool:
    """``processes`` forked parsers; :meth:`start` hands them one batch, split evenly."""

    def __init__(self, ctx: DeskContext, processes: int) -> None:
        """Forks the processes at once, before the worker starts any thread."""
        assert ctx.keyring is not None
        self.ctx = ctx
        self.processes = processes
        child_ctx = replace(ctx, keyring=ctx.keyring.snapshot())
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_adopt,
            initargs=(child_ctx,),
        )
        self._executor.submit(int).result()

    @staticmethod
    def available() -> bool:
        """Forking is how the children inherit the context (POSIX only)."""
        return "fork" in multiprocessing.get_all_start_methods()

    def start(self, jobs: Sequence[Job], early: Mapping[int, ParseResult]) -> Parsing:
        """``jobs`` parsed by the children; ``early``: rows that failed before parsing."""
        share = max(1, -(-len(jobs) // self.processes))
        chunks = [list(jobs[i : i + share]) for i in range(0, len(jobs), share)]
        try:
            parts = [self._executor.submit(_read_in_child, chunk) for chunk in chunks]
        except Exception as exc:  # noqa: BLE001 - a broken pool takes no more work
            log.warning("parsing processes unavailable (%s); parsing here", describe(exc))
            here = kept(read_all(jobs, self.ctx), self.ctx)
            done = dict(zip((row.id for row, _ in jobs), here, strict=True))
            return Parsing(self.ctx, early={**early, **done})
        return Parsing(self.ctx, jobs, parts, early)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
