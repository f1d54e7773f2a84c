"""Schema migrations (Alembic), run by ``echodesk db upgrade``.

The embedded SQLite default upgrades itself on start; a PostgreSQL database
that is behind is never changed behind the operator's back: it raises
:class:`SchemaBehindError` naming the command to run.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from echodesk.errors import SchemaBehindError, StoreError
from echodesk.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    try:
        with db.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database: {exc.orig}") from exc


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent)."""
    cfg = _config()
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StoreError(f"cannot migrate the database: {exc.orig}") from exc


def ensure_current(db: Database, *, auto_upgrade: bool) -> None:
    """Make sure the schema matches the code, upgrading only when allowed."""
    current = current_revision(db)
    if current == head_revision():
        return
    if auto_upgrade:
        upgrade(db)
        return
    state = "empty" if current is None else f"at revision {current}"
    raise SchemaBehindError(
        f"the database schema is {state}, this version needs {head_revision()}: "
        "run 'echodesk db upgrade'"
    )
