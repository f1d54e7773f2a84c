"""ratings: customers' satisfaction ratings of tickets; the From and Subject of spool rows

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("rating", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ratings_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ratings")),
    )
    op.create_index("ix_ratings_rating", "ratings", ["rating"])
    # ADD COLUMN on both databases (a batch copy would trip SQLite's foreign keys).
    op.add_column(
        "inbound_spool",
        sa.Column("from_header", sa.String(length=998), server_default="", nullable=False),
    )
    op.add_column(
        "inbound_spool", sa.Column("subject", sa.Text(), server_default="", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("inbound_spool", "subject")
    op.drop_column("inbound_spool", "from_header")
    op.drop_table("ratings")
