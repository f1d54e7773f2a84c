"""What the IMAP tests share: a real Dovecot per test module, and a desk on each database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.desk import Desk
from tests.support.dovecot import Dovecot, start_dovecot


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    server = start_dovecot()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(db_url, tmp_path / "data")
    try:
        yield harness
    finally:
        harness.close()
