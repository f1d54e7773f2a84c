from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.desk import Desk


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    harness = Desk(db_url, tmp_path / "data")
    try:
        yield harness
    finally:
        harness.close()
