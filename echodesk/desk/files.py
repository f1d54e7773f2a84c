"""A message's files as the archive stores them: one row shape for every path.

Customer mail (the batch), an agent's reply or note, and a webhook's
snapshot all attach files the same way: the bytes go to the blob store under
``storage_key``; the row says what the file is.
"""

from __future__ import annotations

from typing import Any

from echodesk.mailbox.message import AttachmentPart


def file_row(message_pk: int, part: AttachmentPart, storage_key: str) -> dict[str, Any]:
    """The attachment row of one file of a stored message."""
    return {
        "message_pk": message_pk,
        "filename": part.filename[:255],
        "content_type": part.content_type[:255],
        "size": part.size,
        "sha256": part.sha256,
        "storage_key": storage_key,
        "content_id": part.content_id[:998],
        "inline": part.inline,
    }
