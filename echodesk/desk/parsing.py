"""Parsing a batch of raw messages, on every core when the batch is big enough.

Parsing MIME and trimming replies is most of the CPU a message costs, and it
depends on nothing but the bytes, so a big batch is split: helper processes
parse one share while this process parses the other. Small batches (a
message or two from SMTP) are parsed inline, where starting work elsewhere
would cost more than it saves. If the helpers fail, parsing goes on inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.mailbox.trim import trim_reply

log = logging.getLogger(__name__)

#: Below this many messages a batch is parsed inline.
MIN_PARALLEL = 24


@dataclass(frozen=True)
class Parsed:
    msg: ParsedMessage
    trimmed: str


def parse_one(raw: bytes) -> Parsed:
    msg = parse_message(raw)
    return Parsed(msg, trim_reply(msg.text).text)


def _parse_chunk(raws: list[bytes]) -> list[Parsed]:
    return [parse_one(raw) for raw in raws]


def default_processes() -> int:
    """Helper processes worth starting: one per core beyond this one (at most 3)."""
    return max(0, min(3, (os.cpu_count() or 1) - 1))


class BatchParser:
    def __init__(self, processes: int = 0) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def parse(self, raws: Sequence[bytes]) -> list[Parsed]:
        """Parse every message, in order."""
        if self.processes <= 0 or len(raws) < MIN_PARALLEL:
            return [parse_one(raw) for raw in raws]
        share = len(raws) * self.processes // (self.processes + 1)
        try:
            futures = self._submit(list(raws[:share]))
        except (BrokenProcessPool, OSError) as exc:
            return self._give_up(exc, raws)
        mine = [parse_one(raw) for raw in raws[share:]]
        try:
            theirs = [parsed for future in futures for parsed in future.result()]
        except BrokenProcessPool as exc:
            return self._give_up(exc, raws[:share]) + mine
        return theirs + mine

    def _submit(self, raws: list[bytes]) -> list[Future[list[Parsed]]]:
        if self._pool is None:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.processes, mp_context=context)
        step = -(-len(raws) // self.processes)
        return [
            self._pool.submit(_parse_chunk, raws[i : i + step]) for i in range(0, len(raws), step)
        ]

    def _give_up(self, exc: BaseException, raws: Sequence[bytes]) -> list[Parsed]:
        log.warning("parsing helpers failed (%s); parsing in this process from now on", exc)
        self.close()
        self.processes = 0
        return [parse_one(raw) for raw in raws]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
