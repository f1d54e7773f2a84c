"""The IMAP cursor kept in ``imap_state``: how far each account's folder has been read.

This is the storage behind the poller's ``CursorPort`` (it matches that
protocol by shape; the store never imports the mailbox package). One row per
(account, folder), written with an upsert in its own committed transaction,
so the poller may flag or move a message as soon as ``save`` returns.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, and_, case, select
from sqlalchemy.dialects import postgresql, sqlite

from echodesk.store.db import Database
from echodesk.store.models import ImapState
from echodesk.store.types import utcnow


class DbCursor:
    """``load``/``save`` of (uidvalidity, last_uid) per account and folder."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, account: str, folder: str) -> tuple[int, int] | None:
        stmt = select(ImapState.uidvalidity, ImapState.last_uid).where(
            ImapState.account == account, ImapState.mailbox == folder
        )
        with self.db.reading() as session:
            row = session.execute(stmt).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def save(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Insert or update the row; committed on return.

        Within one UIDVALIDITY the cursor never moves backwards, so two
        pollers of the same mailbox (two ``serve`` processes) cannot undo each
        other's progress; a new UIDVALIDITY replaces the cursor outright.
        """
        table = cast(Table, ImapState.__table__)
        module: Any = postgresql if self.db.is_postgres else sqlite
        stmt = module.insert(table).values(
            account=account,
            mailbox=folder,
            uidvalidity=uidvalidity,
            last_uid=last_uid,
            updated_at=utcnow(),
        )
        new = stmt.excluded
        keep_old = and_(table.c.uidvalidity == new.uidvalidity, table.c.last_uid > new.last_uid)
        stmt = stmt.on_conflict_do_update(
            index_elements=["account", "mailbox"],
            set_={
                "uidvalidity": new.uidvalidity,
                "last_uid": case((keep_old, table.c.last_uid), else_=new.last_uid),
                "updated_at": new.updated_at,
            },
        )
        with self.db.transaction() as session:
            session.execute(stmt)


__all__ = ["DbCursor"]
