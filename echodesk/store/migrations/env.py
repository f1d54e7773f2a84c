"""Alembic environment: runs on the connection :mod:`echodesk.store.migrate` hands it."""

from __future__ import annotations

from alembic import context

from echodesk.store.models import Base
from echodesk.store.searchindex import outside_the_models

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through echodesk.store.migrate
    raise RuntimeError("run migrations with 'echodesk db upgrade'")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=lambda _obj, name, type_, _reflected, _other: (
        not outside_the_models(name, type_)
    ),
)
with context.begin_transaction():
    context.run_migrations()
