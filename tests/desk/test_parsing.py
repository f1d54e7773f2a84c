"""Parsing big batches on helper processes gives exactly what parsing inline gives."""

from __future__ import annotations

import os
import signal

from echodesk.desk.parsing import MIN_PARALLEL, BatchParser
from tests.support.mail import make_mail


def _batch(n: int) -> list[bytes]:
    return [
        make_mail(
            message_id=f"p{i}@customer.test",
            subject=f"Question {i}",
            body=f"Hello {i}\n\nOn Mon, 2 Nov 2026, Support wrote:\n> old text {i}\n",
        )
        for i in range(n)
    ]


def test_helpers_parse_in_order_and_alike() -> None:
    raws = _batch(MIN_PARALLEL * 2 + 3)
    inline = BatchParser(0).parse(raws)
    parser = BatchParser(2)
    try:
        parallel = parser.parse(raws)
        assert parser._pool is not None  # the helpers really ran
    finally:
        parser.close()
    assert parallel == inline
    assert [p.msg.message_id for p in parallel] == [f"p{i}@customer.test" for i in range(len(raws))]
    assert parallel[5].trimmed == "Hello 5"


def test_a_dead_helper_falls_back_to_inline_parsing() -> None:
    raws = _batch(MIN_PARALLEL * 2)
    parser = BatchParser(1)
    try:
        parser.parse(raws)  # starts the helper
        assert parser._pool is not None
        for pid in list(parser._pool._processes):
            os.kill(pid, signal.SIGKILL)
        again = parser.parse(raws)
        assert [p.msg.message_id for p in again] == [
            f"p{i}@customer.test" for i in range(len(raws))
        ]
        assert parser.processes == 0
    finally:
        parser.close()
