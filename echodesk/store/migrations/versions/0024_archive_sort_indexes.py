"""archive: the list's sorts by customer and by wait read indexes, not every ticket

Sorting every ticket by its customer's name joined each ticket to its
customer and sorted them all (over 100 ms a page at a million messages). An
index of the name as the list compares it (the name, or the address when it
is empty, without case) lets the first page read customers in order and stop
once it has its tickets.

The wait of an open ticket (its first customer message after the latest
reply) read each of its messages' rows; an index of customer messages by
ticket and time, with the mail's own date, answers it from the index alone.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

NAME_INDEX = "ix_customers_sort_name"
#: As ``echodesk.store.ticketlist._name`` writes it for customers: the same text, or
#: PostgreSQL would not see that the index holds the list's order.
NAME = "lower(coalesce(nullif(display_name, ''), email))"
WAIT_INDEX = "ix_messages_customer"  # echodesk.store.models.Message


def upgrade() -> None:
    op.create_index(NAME_INDEX, "customers", [sa.text(NAME)])
    customer = sa.text("kind = 'customer'")
    op.create_index(
        WAIT_INDEX,
        "messages",
        ["ticket_id", "created_at", "sent_at"],
        postgresql_where=customer,
        sqlite_where=customer,
    )


def downgrade() -> None:
    op.drop_index(WAIT_INDEX, table_name="messages")
    op.drop_index(NAME_INDEX, table_name="customers")
