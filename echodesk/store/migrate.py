"""Schema migrations (Alembic), run by ``echodesk db upgrade``.

The embedded SQLite default upgrades itself on start; a PostgreSQL database
that is behind is never changed behind the operator's back: it raises
:class:`SchemaBehindError` naming the command to run. Checking the revision
on every start is one plain query; Alembic itself is only loaded to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from echodesk.errors import SchemaBehindError, StoreError
from echodesk.store.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

#: The newest migration's revision; tests check it against the migration scripts.
SCHEMA_HEAD = "0026"


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The head revision according to the migration scripts themselves."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    try:
        with db.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return str(value) if value is not None else None
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database: {exc.orig}") from exc


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent)."""
    from alembic import command

    cfg = _config()
    try:
        # Alembic owns the transaction (env.py begins it), so a migration may step
        # out of it, as CREATE INDEX CONCURRENTLY on PostgreSQL must.
        with db.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            conn.commit()
    except OperationalError as exc:
        raise StoreError(f"cannot migrate the database: {exc.orig}") from exc


def ensure_current(db: Database, *, auto_upgrade: bool) -> None:
    """Make sure the schema matches the code, upgrading only when allowed."""
    current = current_revision(db)
    if current == SCHEMA_HEAD:
        return
    if auto_upgrade:
        upgrade(db)
        return
    state = "empty" if current is None else f"at revision {current}"
    raise SchemaBehindError(
        f"the database schema is {state}, this version needs {SCHEMA_HEAD}: "
        "run 'echodesk db upgrade'"
    )
