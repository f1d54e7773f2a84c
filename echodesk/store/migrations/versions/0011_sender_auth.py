"""messages.sender_auth (pass, fail, none) and auth_results (Echo's own checks)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant server default: PostgreSQL adds the column without rewriting the table.
    op.add_column(
        "messages",
        sa.Column("sender_auth", sa.String(10), nullable=False, server_default="none"),
    )
    op.add_column(
        "messages", sa.Column("auth_results", sa.Text(), nullable=False, server_default="")
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): copying the table would trip the
    # foreign keys that point at messages.
    op.drop_column("messages", "auth_results")
    op.drop_column("messages", "sender_auth")
