"""archive: indexes of the live tickets and of the merged ones, apart

The list filtered by a tag counts the tag's live tickets: every ticket of
the tag was looked up to see whether it was merged away (over 50 ms for a
common tag at a million messages). The tag's index counts its tickets, and
the few merged ones, found through an index of them alone, are subtracted.

The tab and assignee counts read an index of (status, merged_into_id,
assignee_id). SQLite's statistics count each missing value as a distinct
one, so that index made "merged_into_id IS NULL" (the live tickets: nearly
all) look selective, and the newest-first list read every ticket through it
and sorted them. The counts now read an index of the live tickets alone, by
(status, assignee_id).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

OLD = "ix_tickets_status_merged_assignee"


def upgrade() -> None:
    merged = sa.text("merged_into_id IS NOT NULL")
    op.create_index(
        "ix_tickets_merged_into",
        "tickets",
        ["merged_into_id"],
        postgresql_where=merged,
        sqlite_where=merged,
    )
    live = sa.text("merged_into_id IS NULL")
    op.create_index(
        "ix_tickets_live_status_assignee",
        "tickets",
        ["status", "assignee_id"],
        postgresql_where=live,
        sqlite_where=live,
    )
    op.drop_index(OLD, table_name="tickets")


def downgrade() -> None:
    op.create_index(OLD, "tickets", ["status", "merged_into_id", "assignee_id"])
    op.drop_index("ix_tickets_live_status_assignee", table_name="tickets")
    op.drop_index("ix_tickets_merged_into", table_name="tickets")
