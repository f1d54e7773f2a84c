from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.desk import Desk


@pytest.fixture
def team(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    """A desk with two agents: Bob and Eve."""
    harness = Desk(db_url, tmp_path / "data")
    harness.add_agent("bob@desk.test", "Bob Agent")
    harness.add_agent("eve@desk.test", "Eve Agent")
    try:
        yield harness
    finally:
        harness.close()
