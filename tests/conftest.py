"""Shared fixtures: real databases (SQLite file and a throw-away PostgreSQL cluster).

Every storage test takes the ``db_url`` fixture and so runs twice, once per
database. The PostgreSQL cluster is started once per test session; each test
gets a fresh database in it. If the cluster cannot start, the tests fail:
they never skip silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.desk import Desk
from tests.support.dnszone import DnsZone, start_dns
from tests.support.postgres import PgCluster, start_cluster
from tests.support.s3 import S3Server

# Every ``echodesk`` process a test starts checks received mail only when the test
# asks (with its own DNS server, tests/support/dnszone.py): no test queries the
# machine's resolver, and tests of agents' commands judge them by signature alone.
os.environ.setdefault("ECHODESK_VERIFY_MAIL", "false")
os.environ.setdefault("ECHODESK_AGENT_AUTH", "signature-only")

CORPUS = Path(
    os.environ.get("ECHODESK_CORPUS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)


@pytest.fixture(scope="session")
def dns_zone() -> Iterator[DnsZone]:
    """An authoritative DNS server (dnsmasq) with DKIM keys, SPF and DMARC records."""
    zone = start_dns()  # raises if dnsmasq cannot start: never a skip
    try:
        yield zone
    finally:
        zone.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """An S3-protocol server (moto's standalone server) on loopback."""
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster()  # raises with the server's log if it cannot start
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'echodesk.db'}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    with cluster.fresh_database() as url:
        yield url


def corpus_dir() -> Path:
    """The shared corpus folder, or a skip (a failure in CI) when it is absent."""
    if CORPUS.is_dir():
        return CORPUS
    if os.environ.get("CI"):
        pytest.fail(f"corpus not found at {CORPUS} (CI must have ../shared)")
    pytest.skip(f"corpus not found at {CORPUS}: these tests need ../shared/corpus")


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``postgresql_only`` (a PostgreSQL plan, say) is not collected for
    SQLite, rather than collected and skipped."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("postgresql_only")
        and "sqlite" in getattr(getattr(item, "callspec", None), "params", {}).values()
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
