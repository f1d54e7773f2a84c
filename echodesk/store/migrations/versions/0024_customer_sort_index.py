"""archive: the list sorted by customer walks an index of the customers' sort names

Sorting every ticket by its customer's name joined each ticket to its
customer and sorted them all (over 100 ms a page at a million messages).
An index of the name as the list compares it (the name, or the address when
it is empty, without case) lets the first page read customers in order and
stop once it has its tickets.

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

INDEX = "ix_customers_sort_name"
#: As ``echodesk.store.ticketlist._name`` writes it for customers: the same text, or
#: PostgreSQL would not see that the index holds the list's order.
NAME = "lower(coalesce(nullif(display_name, ''), email))"


def upgrade() -> None:
    op.create_index(INDEX, "customers", [sa.text(NAME)])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="customers")
