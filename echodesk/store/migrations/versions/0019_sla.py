"""ticket_sla and sla_results: SLA clocks per ticket, and the targets met

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ticket_sla",
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("running_since", WHEN, nullable=True),
        sa.Column("response_target", sa.String(length=20), nullable=False),
        sa.Column("response_from", WHEN, nullable=True),
        sa.Column("response_spent", sa.Float(), nullable=False),
        sa.Column("response_warn_at", WHEN, nullable=True),
        sa.Column("response_due", WHEN, nullable=True),
        sa.Column("response_stage", sa.SmallInteger(), nullable=False),
        sa.Column("resolution_open", sa.Boolean(), nullable=False),
        sa.Column("resolution_spent", sa.Float(), nullable=False),
        sa.Column("resolution_warn_at", WHEN, nullable=True),
        sa.Column("resolution_due", WHEN, nullable=True),
        sa.Column("resolution_stage", sa.SmallInteger(), nullable=False),
        sa.Column("alert_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_sla_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_sla")),
    )
    op.create_index("ix_ticket_sla_alert_at", "ticket_sla", ["alert_at"])
    op.create_index("ix_ticket_sla_response_due", "ticket_sla", ["response_due"])
    op.create_index("ix_ticket_sla_resolution_due", "ticket_sla", ["resolution_due"])
    op.create_table(
        "sla_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("met_at", WHEN, nullable=False),
        sa.Column("in_time", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_sla_results_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_results")),
    )
    op.create_index("ix_sla_results_ticket_id", "sla_results", ["ticket_id"])
    op.create_index("ix_sla_results_met_at", "sla_results", ["met_at"])


def downgrade() -> None:
    op.drop_table("sla_results")
    op.drop_table("ticket_sla")
