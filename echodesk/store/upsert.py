"""INSERT ... ON CONFLICT DO NOTHING on both databases.

Idempotency rules live in unique constraints; inserting "if absent" is how two
workers can add the same customer or participant at once without either one
failing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, model: type[Any], values: dict[str, Any], conflict: list[str]
) -> bool:
    """Insert a row unless one with the same ``conflict`` columns exists; True if inserted."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
