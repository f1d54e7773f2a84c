"""Conditions on the files a message carries: whether it has any, and of which type.

Both look at every file of the message, inline images included (a pasted
screenshot is usually inline, and is what ``attachment_type: image/*`` is for).
Types are compared lower-cased, as globs: ``image/*``, ``application/pdf``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from echodesk.rules.base import Condition, Entry, Result, View, verdict
from echodesk.rules.nodes import Reader
from echodesk.rules.text import listing, printable, quote

_TYPE_GLOB = re.compile(r"[a-z0-9!#$&^_.+*?\[\]-]{1,100}/[a-z0-9!#$&^_.+*?\[\]-]{1,100}")


def _files(view: View) -> str:
    parts = view.msg.attachments
    if not parts:
        return "no attachments"
    return listing([f"{p.filename or 'unnamed'}: {p.content_type}" for p in parts])


@dataclass(frozen=True)
class HasAttachment:
    wanted: bool

    @property
    def label(self) -> str:
        return "has attachment" if self.wanted else "has no attachment"

    def check(self, view: View) -> Result:
        has = bool(view.msg.attachments)
        return verdict(self.label, has == self.wanted, _files(view))


@dataclass(frozen=True)
class AttachmentType:
    globs: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"attachment type {' or '.join(self.globs)}"

    def check(self, view: View) -> Result:
        for part in view.msg.attachments:
            kind = part.content_type.strip().lower()[:200]
            if any(fnmatch.fnmatchcase(kind, g) for g in self.globs):
                shown = printable(f"{part.filename or 'unnamed'}: {kind}")
                return verdict(self.label, True, shown)
        return verdict(self.label, False, _files(view))


def parse_has_attachment(entry: Entry, r: Reader) -> Condition | None:
    wanted = r.flag(entry.pair.value, entry.where)
    return None if wanted is None else HasAttachment(wanted)


def parse_attachment_type(entry: Entry, r: Reader) -> Condition | None:
    found = r.texts(entry.pair.value, entry.where, "a content type like image/* or a list")
    if found is None:
        return None
    globs = []
    for node, text in found:
        glob = text.strip().lower()
        if not _TYPE_GLOB.fullmatch(glob):
            r.problem(
                node,
                entry.where,
                f"not a content type: {quote(text)} (like image/* or application/pdf)",
            )
            return None
        globs.append(glob)
    return AttachmentType(tuple(globs))
