"""The Reports page: charts drawn on the server, a table and a CSV beside each, the same
figures as the brute-force truth; periods that are no period give a page that says so."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.desk import Desk
from tests.support.reportdata import FIRST, LAST, Made, generated_desk, groups, volume
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

PERIOD = f"from={FIRST.isoformat()}&to={LAST.isoformat()}"


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[tuple[FlaskClient, Desk, list[Made]]]:
    for desk, made in generated_desk(db_url, tmp_path):
        client = desk_app(desk).test_client()
        sign_in(client, desk)
        yield client, desk, made


def test_every_chart_has_its_image_table_and_csv(
    site: tuple[FlaskClient, Desk, list[Made]],
) -> None:
    client, _desk, made = site
    page = client.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("volume", "times", "backlog", "agents", "tags", "sla", "ratings"):
        assert f'src="/reports/{name}.svg?' in html.replace("&amp;", "&")
        assert f'href="/reports/{name}.csv?' in html.replace("&amp;", "&")
    # 46 local days: counted per day, each day a row of the table beside the chart.
    assert html.count('<th scope="row">2026-1') == len(volume(made, week=False))
    chart = client.get(f"/reports/agents.svg?{PERIOD}")
    assert chart.mimetype == "image/svg+xml"
    body = chart.get_data(as_text=True)
    assert "<script" not in body and "Load and times per agent" in body
    assert "script-src" not in chart.headers["Content-Security-Policy"]
    assert not re.search(r"(href|src)=\"https?:", body)


def test_the_csv_holds_the_true_figures(site: tuple[FlaskClient, Desk, list[Made]]) -> None:
    client, _desk, made = site
    rows = list(csv.DictReader(io.StringIO(client.get(f"/reports/tags.csv?{PERIOD}").text)))
    truth = groups(made, "tag")
    assert {r["tag"] for r in rows} == set(truth)
    for row in rows:
        want = truth[row["tag"]]
        counts = (row["open_now"], row["opened_in_period"], row["resolved_in_period"])
        assert tuple(map(int, counts)) == (want["open"], want["opened"], want["resolved"])
        median = want["times"]["first_response_business"]["median"]
        assert row["first_response_business_median_seconds"] == (
            "" if median is None else str(median)
        )
    weekly = client.get(f"/reports/volume.csv?{PERIOD}&by=week").text
    assert list(csv.DictReader(io.StringIO(weekly))) == [
        {"week": r["start"], "opened": str(r["opened"]), "resolved": str(r["resolved"])}
        for r in volume(made, week=True)
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("from=2026-11-15&to=2026-11-01", "ends before it begins"),
        ("from=1971-01-01&to=2026-11-01", "longer than"),
        ("from=99999-01-01", "write a date as"),
        ("since=forever", "cannot be read"),
        ("since=99999999999999999999d", "cannot be read"),
        ("since=999999d", "between 1 minute"),
        ("from=2031-01-01&to=2031-01-02", "in the future"),
        ("since=" + "9" * 5000 + "d", "cannot be read"),
    ],
)
def test_a_period_that_is_no_period_gives_an_empty_page_that_says_why(
    site: tuple[FlaskClient, Desk, list[Made]], query: str, words: str
) -> None:
    client, _desk, _made = site
    page = client.get(f"/reports?{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert words in html and "This report is empty" in html and ".svg" not in html
    assert client.get(f"/reports/volume.svg?{query}").status_code == 400
    assert client.get(f"/reports/volume.csv?{query}").status_code == 400


def test_an_unknown_chart_is_not_found(site: tuple[FlaskClient, Desk, list[Made]]) -> None:
    client, _desk, _made = site
    assert client.get("/reports/secrets.svg").status_code == 404
    assert client.get("/reports/secrets.csv").status_code == 404
