"""Alembic environment: runs on the connection :mod:`echodesk.store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from echodesk.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through echodesk.store.migrate
    raise RuntimeError("run migrations with 'echodesk db upgrade'")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
