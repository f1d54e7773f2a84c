"""indexes the ingest hot path reads through whatever the archive's size

The spool's queue index becomes (state, id), so claiming a batch reads its
oldest pending rows in order and stops, instead of reading and sorting the
whole backlog of a large import; tickets' customer index gains created_at, so
a sender's tickets of the last day are one range however many they opened.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_spool_state_id", "inbound_spool", ["state", "id"])
    op.drop_index("ix_inbound_spool_state_next", table_name="inbound_spool")
    op.create_index("ix_tickets_customer_created", "tickets", ["customer_id", "created_at"])
    op.drop_index("ix_tickets_customer_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_customer_id", "tickets", ["customer_id"])
    op.drop_index("ix_tickets_customer_created", table_name="tickets")
    op.create_index("ix_inbound_spool_state_next", "inbound_spool", ["state", "next_attempt_at"])
    op.drop_index("ix_inbound_spool_state_id", table_name="inbound_spool")
