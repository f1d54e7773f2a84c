"""A throw-away PostgreSQL cluster for tests and benchmarks.

initdb and postgres refuse to run as root, so when the suite runs as root the
server runs as the ``postgres`` system user. The cluster lives in a temporary
folder, listens on a free loopback port and is destroyed on ``stop()``.
Failing to start raises: in CI a storage test must never silently skip.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_fresh = itertools.count(1)


def _pg_bin() -> str:
    explicit = os.environ.get("ECHODESK_TEST_PGBIN")
    if explicit:
        return explicit
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for cand in candidates:
        if os.path.exists(os.path.join(cand, "initdb")):
            return cand
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    raise RuntimeError(
        "PostgreSQL server binaries (initdb) not found: install Debian's "
        "'postgresql' package (scripts/test does) or set ECHODESK_TEST_PGBIN"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    base: str
    data: str
    port: int
    bindir: str
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _kw(self) -> dict[str, Any]:
        return {
            "user": self.run_as,
            "stdin": subprocess.DEVNULL,
            "check": True,
            "capture_output": True,
            "cwd": self.base,
        }

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [
                f"{self.bindir}/psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            **self._kw(),
        )
        return str(out.stdout.decode())

    def dump(self, dbname: str) -> bytes:
        """``pg_dump`` of one database (plain SQL), as bytes."""
        out = subprocess.run(
            [
                f"{self.bindir}/pg_dump",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
            ],
            **self._kw(),
        )
        return bytes(out.stdout)

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def fresh_database(self, prefix: str = "t") -> Iterator[str]:
        """A new empty database for one test (its URL), dropped afterwards."""
        name = f"{prefix}{os.getpid()}_{next(_fresh)}"
        url = self.create_database(name)
        try:
            yield url
        finally:
            self.drop_database(name)

    def pause(self) -> None:
        """Stop the server but keep its data (to test a database outage)."""
        subprocess.run(
            [f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"], **self._kw()
        )

    def resume(self) -> None:
        subprocess.run(
            [
                f"{self.bindir}/pg_ctl",
                "-D",
                self.data,
                "-o",
                _options(self.port, self.base),
                "-l",
                f"{self.base}/log",
                "-w",
                "-t",
                "30",
                "start",
            ],
            **self._kw(),
        )

    def stop(self) -> None:
        try:
            subprocess.run(
                [f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"],
                **self._kw(),
            )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _options(port: int, base: str) -> str:
    return (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200"
    )


def start_cluster() -> PgCluster:
    """Start a fresh cluster (about one second) and return its handle."""
    bindir = _pg_bin()
    base = tempfile.mkdtemp(prefix="echodesk-pg-")
    data = os.path.join(base, "data")
    run_as = "postgres" if os.geteuid() == 0 else None
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    os.chmod(base, 0o755)
    port = free_port()
    cluster = PgCluster(base=base, data=data, port=port, bindir=bindir, run_as=run_as)
    kw = cluster._kw()
    try:
        subprocess.run(
            [
                f"{bindir}/initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            **kw,
        )
        opts = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        subprocess.run(
            [
                f"{bindir}/pg_ctl",
                "-D",
                data,
                "-o",
                opts,
                "-l",
                f"{base}/log",
                "-w",
                "-t",
                "30",
                "start",
            ],
            **kw,
        )
    except subprocess.CalledProcessError as exc:
        log = ""
        if os.path.exists(f"{base}/log"):
            with open(f"{base}/log", encoding="utf-8", errors="replace") as fh:
                log = fh.read()[-2000:]
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(
            f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}"
        ) from exc
    return cluster
