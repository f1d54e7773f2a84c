"""indexes for the archive's list: counts by status, merge and assignee; an agent's tickets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_tickets_status_merged_assignee", ["status", "merged_into_id", "assignee_id"]),
    ("ix_tickets_assignee_updated", ["assignee_id", "updated_at"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, columns in INDEXES:
            op.create_index(name, "tickets", columns)
        return
    with op.get_context().autocommit_block():  # a live desk keeps writing meanwhile
        for name, columns in INDEXES:
            op.create_index(
                name, "tickets", columns, postgresql_concurrently=True, if_not_exists=True
            )


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name="tickets")
