"""``echodesk erase``: a data-subject request to forget a person, carried out whole.

The tables are changed in one transaction (:mod:`echodesk.store.erasure`)
with an audit row ``customers.erase`` naming who erased and when; only after
the commit are the files deleted (attachments no other row needs, raw mail
kept in the blob store, outgoing mail written as .eml files), so a failure
half-way leaves the archive as it was. On SQLite the erasure writes with
``secure_delete`` on and merges the full-text index, so the old texts do
not linger in free pages or old index segments, and the write-ahead log is
checkpointed afterwards. Safe while the service runs: every change is an
ordinary transaction, and erasing twice finds nothing the second time.
"""

from __future__ import annotations

import email
import logging
from datetime import datetime
from email import policy
from pathlib import Path

from sqlalchemy.orm import Session

from echodesk.desk.audit import record
from echodesk.desk.context import DeskContext
from echodesk.store.db import Database
from echodesk.store.erasure import Erased, erase_person
from echodesk.store.types import utcnow

log = logging.getLogger(__name__)


def erase(
    db: Database, ctx: DeskContext, address: str, *, actor: str, now: datetime | None = None
) -> Erased:
    """Erase everything about ``address``; what was changed."""
    now = now or utcnow()
    sqlite = db.dialect == "sqlite"
    with db.transaction() as session:
        if sqlite:
            session.connection().exec_driver_sql("PRAGMA secure_delete = ON")
        done = erase_person(session, address, now=now, blobs=ctx.blobs)
        if done.customer_id is not None or done.messages or done.spool_rows or done.outbox_rows:
            _audit(session, actor, done, now)
        if sqlite:
            session.connection().exec_driver_sql(
                "INSERT INTO message_fts(message_fts) VALUES('optimize')"
            )
    for key in sorted(done.blob_keys):
        try:
            ctx.blobs.delete(key)
        except OSError as exc:  # the rows no longer point at it; say so and go on
            log.warning("erase: could not delete stored file %s: %s", key, exc)
    _delete_written_mail(ctx.settings.data_dir / "outbox", done.outbox_message_ids, address)
    if sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return done


def _audit(session: Session, actor: str, done: Erased, now: datetime) -> None:
    record(
        session,
        actor,
        "customers.erase",
        None,
        {
            "customer_id": done.customer_id,
            "tickets": len(done.tickets),
            "messages": done.messages,
            "attachments": done.attachments,
            "on": now.date().isoformat(),
        },
        now=now,
    )


def _delete_written_mail(folder: Path, message_ids: set[str], address: str) -> None:
    """The embedded default's .eml files of the erased outgoing mail, or to the person."""
    if not folder.is_dir():
        return
    wanted = {m.strip("<>").lower() for m in message_ids if m}
    for path in folder.glob("*.eml"):
        try:
            with path.open("rb") as fh:
                head = email.message_from_binary_file(fh, policy=policy.default)
        except OSError:
            continue
        message_id = str(head.get("Message-ID", "")).strip().strip("<>").lower()
        envelope_to = str(head.get("X-Envelope-To", "")).strip("<> ").lower()
        if message_id in wanted or envelope_to == address.strip().lower():
            path.unlink(missing_ok=True)
