"""Engines, sessions and transactions for SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on; its write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the lock (busy timeout)
instead of failing halfway. Read-only sessions use a plain deferred BEGIN so
the web archive never waits for the worker.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from echodesk.errors import StoreError
from echodesk.store import searchindex

log = logging.getLogger(__name__)
_IMMEDIATE = "echodesk_immediate"


def normalise_url(url: str) -> str:
    """Accept URLs as hosting platforms write them (``postgres://``) and pick psycopg 3."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One database: its engine, read sessions and write transactions."""

    def __init__(self, url: str, *, pool_size: int = 12) -> None:
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise StoreError(f"database URL is not valid: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
            # JIT compiling costs more than Echo's short queries take; and a statement
            # prepared after five runs would keep a generic plan priced for a tiny table.
            kwargs["connect_args"] = {"options": "-c jit=off", "prepare_threshold": None}
        else:
            raise StoreError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"no driver for {self.url!r}: {exc}") from exc
        if self.dialect == "sqlite":
            _install_sqlite_pragmas(self.engine)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        # SQLite admits one writer: queue this process's writers on a lock, which
        # wakes the next at once, instead of in SQLite's sleeping busy handler.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if self.dialect == "sqlite" else None
        )
        self.read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = sessionmaker(self._writer, expire_on_commit=False)
        searchindex.watch(self.write_sessions)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        if self._write_lock is None:
            with self.write_sessions() as session, session.begin():
                yield session
            return
        with self._write_lock, self.write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction on a bare connection: the receivers' short path, without
        the ORM session's bookkeeping (committed when the block ends)."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        with lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session (never blocks a writer on SQLite)."""
        with self.read_sessions() as session:
            yield session

    def keep_statistics(self, *, imported: int | None = None) -> None:
        """Bring the query planner's statistics up to date, so that its choice of
        index stays right as tables grow from empty to millions of rows.

        SQLite keeps none until asked; this analyzes every table that has none
        yet or that more than doubled since, then runs ``PRAGMA optimize``
        (which, on the SQLite bundled with Python 3.11, only knows the tables
        its own connection queried, and waits for a 25-fold change).
        PostgreSQL's autovacuum analyzes a table once a tenth of it changed, at
        its own pace; after an import of ``imported`` messages, each table the
        import may have grown by a tenth is analyzed at once (a large archive
        taking a small import is left alone). A database too busy to analyze
        now is left for the next call: the work that called this is done and
        must not fail for it.
        """
        try:
            if self.dialect == "sqlite":
                self._sqlite_statistics()
            elif imported:
                self._postgres_statistics(imported)
        except (sqlite3.OperationalError, OperationalError) as exc:
            log.warning("statistics not updated this time: %s", exc)

    def _postgres_statistics(self, imported: int) -> None:
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            small = conn.exec_driver_sql(
                "SELECT quote_ident(c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema() "
                "AND %(rows)s >= 0.1 * greatest(c.reltuples, 0) ORDER BY 1",
                {"rows": imported},
            ).scalars()
            tables = ", ".join(str(t) for t in small)
            if tables:
                conn.exec_driver_sql(f"ANALYZE {tables}")

    def _sqlite_statistics(self) -> None:
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        raw = self.engine.raw_connection()
        try:
            with lock:
                _sqlite_statistics(raw.driver_connection)
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_IMMEDIATE, False):
            _begin_immediate(conn.connection.dbapi_connection)
        else:
            conn.exec_driver_sql("BEGIN")

    @event.listens_for(engine, "close")
    def _on_close(dbapi_conn: Any, _record: Any) -> None:
        # SQLite's advice: optimize before a connection closes, which analyzes the
        # tables this connection's queries found without statistics or much grown.
        try:
            dbapi_conn.execute("PRAGMA busy_timeout=1000")  # never hold up an exit
            dbapi_conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass  # a busy or broken connection: the next one will do it


#: A table that grew by more than this factor since it was analyzed is analyzed again.
_STALE_FACTOR = 2.0


def _sqlite_statistics(conn: Any) -> None:
    """Analyze each indexed table without statistics, or grown far past its recorded size.

    The size is the table's highest rowid (one step down its b-tree), as good
    as a count for a table that mostly grows.
    """
    indexed = [
        str(name)
        for (name,) in conn.execute(
            "SELECT DISTINCT tbl_name FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite_%' ORDER BY tbl_name"
        )
    ]
    recorded: dict[str, int] = {}
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
        for table, stat in conn.execute("SELECT tbl, stat FROM sqlite_stat1"):
            rows = int(str(stat).split()[0]) if stat else 0
            recorded[str(table)] = max(recorded.get(str(table), 0), rows)
    for table in indexed:
        try:
            size = conn.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchone()[0]
        except sqlite3.OperationalError:  # a table without rowid: PRAGMA optimize sees to it
            continue
        before = recorded.get(table)
        if before is None or int(size) > _STALE_FACTOR * max(before, 50):
            conn.execute(f'ANALYZE "{table}"')
    conn.execute("PRAGMA optimize")


def _begin_immediate(dbapi_conn: Any, timeout: float = 30.0) -> None:
    """Take SQLite's write lock, polling every millisecond or two.

    SQLite's own busy handler sleeps ever longer (up to 25 ms a time) while
    another process holds the lock, so a receiver waiting behind a worker's
    commit would answer tens of milliseconds late; polling wakes it within a
    couple of milliseconds of the lock being free.
    """
    deadline = time.monotonic() + timeout
    pause = 0.0005
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=0")
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 1.5, 0.002)
    finally:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
