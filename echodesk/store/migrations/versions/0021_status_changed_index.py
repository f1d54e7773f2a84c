"""reports: tickets by (status, status_changed_at), each ticket's replies by time

"Resolved in the period" reads the first index; a ticket's first reply to the
customer is one probe of the second (partial: replies only).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_status_changed", "tickets", ["status", "status_changed_at"])
    replies = sa.text("kind = 'reply'")
    op.create_index(
        "ix_messages_replies",
        "messages",
        ["ticket_id", "created_at"],
        postgresql_where=replies,
        sqlite_where=replies,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_replies", table_name="messages")
    op.drop_index("ix_tickets_status_changed", table_name="tickets")
