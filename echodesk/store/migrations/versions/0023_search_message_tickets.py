"""search: SQLite finds a matching message's ticket in a small index, not the messages table

A search counts and intersects words ticket by ticket, so for every message a
word matches it needs that message's ticket. On SQLite the messages table is
wide (bodies inline), and looking each id up in it costs several times more
than in an index of (id, ticket_id) alone; PostgreSQL reads the ticket from
the row its full-text index already leads to, and needs no such index.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEX = "ix_messages_id_ticket"  # echodesk.store.searchindex.ID_TICKET_INDEX


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(INDEX, "messages", ["id", "ticket_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(INDEX, table_name="messages")
