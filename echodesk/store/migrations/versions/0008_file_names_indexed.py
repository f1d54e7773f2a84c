"""search: the names of attached files become words of their message's index entry

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from echodesk.store.searchindex import document

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_VECTOR = (
    "setweight(to_tsvector('simple', :subject), 'A') || "
    "setweight(to_tsvector('simple', :body), 'B') || "
    "setweight(to_tsvector('simple', :sender), 'C') || "
    "setweight(to_tsvector('simple', :recipients), 'D')"
)
_COLUMNS = "m.id, m.subject, m.body_text, m.from_email, m.from_name, m.to_addrs, m.cc_addrs"


def upgrade() -> None:
    """Index again, a thousand at a time, the messages that have attachments."""
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    last = 0
    while True:
        rows = (
            conn.execute(
                sa.text(
                    f"SELECT {_COLUMNS} FROM messages m WHERE m.id > :last AND EXISTS "
                    "(SELECT 1 FROM attachments a WHERE a.message_pk = m.id) "
                    "ORDER BY m.id LIMIT 1000"
                ),
                {"last": last},
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        ids = [row["id"] for row in rows]
        files: dict[int, list[str]] = {}
        names = conn.execute(
            sa.text(
                "SELECT message_pk, filename FROM attachments "
                "WHERE erased_at IS NULL AND message_pk IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        )
        for pk, name in names:
            files.setdefault(pk, []).append(name or "")
        params = []
        for row in rows:
            subject, body, sender, recipients = document(dict(row), files.get(row["id"], ()))
            params.append(
                {
                    "id": row["id"],
                    "subject": subject,
                    "body": body,
                    "sender": sender,
                    "recipients": recipients,
                }
            )
        if pg:
            conn.execute(
                sa.text(f"UPDATE messages SET search_vector = {_VECTOR} WHERE id = :id"), params
            )
        else:
            conn.execute(
                sa.text("DELETE FROM message_fts WHERE rowid = :id"),
                [{"id": p["id"]} for p in params],
            )
            conn.execute(
                sa.text(
                    "INSERT INTO message_fts (rowid, subject, body, sender, recipients) "
                    "VALUES (:id, :subject, :body, :sender, :recipients)"
                ),
                params,
            )
        last = ids[-1]


def downgrade() -> None:
    """Nothing to undo: entries with file names still find everything they did."""
