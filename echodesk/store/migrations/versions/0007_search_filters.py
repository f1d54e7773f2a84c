"""indexes for search filters: tags by name, tickets by created and updated time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_ticket_tags_tag", "ticket_tags", ["tag", "ticket_id"]),
    ("ix_tickets_updated_at", "tickets", ["updated_at"]),
    ("ix_tickets_created_at", "tickets", ["created_at"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)
        return
    with op.get_context().autocommit_block():  # a live desk keeps writing meanwhile
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
