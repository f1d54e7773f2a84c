"""full-text search: FTS5 table (SQLite) or tsvector + GIN and pg_trgm indexes (PostgreSQL)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from echodesk.store.searchindex import document

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FTS = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, recipients, tokenize = 'unicode61 remove_diacritics 0')"
)
_TRGM = (
    ("ix_customers_email_trgm", "customers", "email"),
    ("ix_customers_display_name_trgm", "customers", "display_name"),
    ("ix_attachments_filename_trgm", "attachments", "filename"),
)
_VECTOR = (
    "setweight(to_tsvector('simple', :subject), 'A') || "
    "setweight(to_tsvector('simple', :body), 'B') || "
    "setweight(to_tsvector('simple', :sender), 'C') || "
    "setweight(to_tsvector('simple', :recipients), 'D')"
)


def _backfill(conn: sa.Connection, statement: str) -> None:
    """Index the messages already stored, a thousand at a time."""
    columns = "id, subject, body_text, from_email, from_name, to_addrs, cc_addrs"
    last = 0
    while True:
        rows = (
            conn.execute(
                sa.text(f"SELECT {columns} FROM messages WHERE id > :last ORDER BY id LIMIT 1000"),
                {"last": last},
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        params = []
        for row in rows:
            subject, body, sender, recipients = document(dict(row))
            params.append(
                {
                    "id": row["id"],
                    "subject": subject,
                    "body": body,
                    "sender": sender,
                    "recipients": recipients,
                }
            )
        conn.execute(sa.text(statement), params)
        last = rows[-1]["id"]


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        op.execute(_FTS)
        _backfill(
            conn,
            "INSERT INTO message_fts (rowid, subject, body, sender, recipients) "
            "VALUES (:id, :subject, :body, :sender, :recipients)",
        )
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("messages", sa.Column("search_vector", sa.dialects.postgresql.TSVECTOR()))
    _backfill(conn, f"UPDATE messages SET search_vector = {_VECTOR} WHERE id = :id")
    # Built without locking writers out: a live desk keeps receiving mail meanwhile.
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_messages_search_vector "
            "ON messages USING gin (search_vector)"
        )
        for name, table, column in _TRGM:
            op.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
                f"ON {table} USING gin ({column} gin_trgm_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS message_fts")
        return
    for name, _, _ in _TRGM:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP INDEX IF EXISTS ix_messages_search_vector")
    op.drop_column("messages", "search_vector")
