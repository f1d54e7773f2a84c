"""tickets: an index on (status, status_changed_at) for reports' "resolved in the period"

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_status_changed", "tickets", ["status", "status_changed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_status_changed", table_name="tickets")
