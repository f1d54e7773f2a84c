"""``echodesk report`` on a generated archive, against figures computed by brute force.

Each database must give exactly the truth of :mod:`tests.support.reportdata`
(business time minute by minute, local days with ``zoneinfo``, nearest-rank
percentiles by sorting), so both give the same.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.desk import Desk
from tests.support.reportdata import (
    END,
    FIRST,
    LAST,
    START,
    Made,
    generated_desk,
    groups,
    times,
    volume,
)


@pytest.fixture
def generated(db_url: str, tmp_path: Path) -> Iterator[tuple[Desk, list[Made]]]:
    yield from generated_desk(db_url, tmp_path)


def _report(desk: Desk, *extra: str) -> dict[str, Any]:
    done = desk.cli("report", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--json" in extra else {"text": done.stdout}


def test_totals_and_times_equal_the_truth(generated: tuple[Desk, list[Made]]) -> None:
    desk, items = generated
    found = _report(desk, "--json")
    assert found["opened"] == sum(START <= m.created < END for m in items)
    assert found["resolved"] == sum(
        m.status in ("resolved", "closed") and START <= m.changed < END for m in items
    )
    assert found["times"] == times(items)
    assert found["times"]["first_response_business"]["count"] > 20


@pytest.mark.parametrize("by", ["day", "week"])
def test_volume_per_local_day_and_week(generated: tuple[Desk, list[Made]], by: str) -> None:
    desk, items = generated
    found = _report(desk, "--json", "--by", by)
    assert found["rows"] == volume(items, by == "week")
    table = list(csv.DictReader(io.StringIO(_report(desk, "--csv", "--by", by)["text"])))
    assert [(r[by], int(r["opened"]), int(r["resolved"])) for r in table] == [
        (r["start"], r["opened"], r["resolved"]) for r in found["rows"]
    ]


@pytest.mark.parametrize("by", ["agent", "tag"])
def test_load_and_times_per_agent_and_tag(generated: tuple[Desk, list[Made]], by: str) -> None:
    desk, items = generated
    found = _report(desk, "--json", "--by", by)
    rows = {row["name"]: {k: v for k, v in row.items() if k != "name"} for row in found["rows"]}
    assert rows == groups(items, by)
    table = list(csv.DictReader(io.StringIO(_report(desk, "--csv", "--by", by)["text"])))
    for line in table:
        want = rows[line[by]]
        assert (int(line["open_now"]), int(line["resolved_in_period"])) == (
            want["open"],
            want["resolved"],
        )
        median = want["times"]["resolution_business"]["median"]
        assert line["resolution_business_median_seconds"] == ("" if median is None else str(median))
