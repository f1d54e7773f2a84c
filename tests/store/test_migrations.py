"""Schema migrations on both databases."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from echodesk.errors import SchemaBehindError, StoreError
from echodesk.store import migrate
from echodesk.store.db import Database, normalise_url
from echodesk.store.models import Base
from echodesk.store.searchindex import outside_the_models

#: Indexes of an expression, made by the migrations only: SQLite's reflection cannot read
#: them back to compare (the list's sort by customer name, migration 0024).
EXPRESSION_INDEXES = ("ix_customers_sort_name",)


def test_upgrade_creates_every_table_and_matches_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        migrate.upgrade(db)
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with db.engine.connect() as conn:
            opts = {
                "compare_type": True,
                "include_object": lambda _o, name, type_, _r, _x: (
                    not outside_the_models(name, type_) and name not in EXPRESSION_INDEXES
                ),
            }
            ctx = MigrationContext.configure(conn, opts=opts)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
                assert compare_metadata(ctx, Base.metadata) == []
        assert migrate.current_revision(db) == migrate.head_revision()
        migrate.upgrade(db)  # a second run changes nothing and does not fail
        assert migrate.current_revision(db) == migrate.head_revision()
    finally:
        db.dispose()


def test_the_code_knows_the_newest_migration() -> None:
    assert migrate.head_revision() == migrate.SCHEMA_HEAD


def test_a_database_that_is_behind_names_the_command(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(SchemaBehindError, match="echodesk db upgrade"):
            migrate.ensure_current(db, auto_upgrade=False)
        migrate.ensure_current(db, auto_upgrade=True)
        migrate.ensure_current(db, auto_upgrade=False)
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_urls_as_hosting_platforms_write_them(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_an_unreachable_database_is_a_clear_error() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreError, match="cannot reach the database"):
            migrate.current_revision(db)
    finally:
        db.dispose()


def test_unsupported_database_kinds_are_refused() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        Database("mysql://u@h/d")


def test_each_migration_downgrades_and_upgrades_again(db_url: str) -> None:
    from alembic import command

    db = Database(db_url)
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            cfg = migrate._config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            conn.commit()
        assert migrate.current_revision(db) == "0001"
        assert "rcpt_to" in {c["name"] for c in inspect(db.engine).get_columns("outbox")}
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.SCHEMA_HEAD
        assert "rcpt" in {c["name"] for c in inspect(db.engine).get_columns("outbox")}
    finally:
        db.dispose()
