"""Recovering a forwarded message: who wrote it originally, its subject and its text.

When an agent forwards a customer's mail to the desk (``#forward``), the
ticket must belong to the customer, not the agent. The original comes either
attached (``message/rfc822``, kept by the parser as an ``.eml`` attachment) or
inline, below a marker such as "---------- Forwarded message ---------" and a
block of "From:/Date:/Subject:/To:" lines, as Gmail, Outlook, Apple Mail and
Thunderbird write it (in several languages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from echodesk.mailbox.message import Address, ParsedMessage
from echodesk.mailbox.parse import parse_message

_MARKER_RE = re.compile(
    r"^[ \t>*_-]{0,20}(?:-{2,}[ \t]*)?(?:forwarded message|original message|begin forwarded "
    r"message|weitergeleitete nachricht|ursprüngliche nachricht|message transféré|"
    r"message d'origine|mensaje reenviado|mensaje original|doorgestuurd bericht)"
    r"[ \t:]*(?:-{2,})?[ \t*_]*$",
    re.IGNORECASE,
)
_FIELD_RE = re.compile(
    r"^[ \t>]{0,4}[*_]{0,2}([A-Za-zÀ-ÿ-]{2,12})[*_]{0,2}[ \t]*:[*_]{0,2}[ \t]*(.{0,998})$"
)
_FROM = frozenset({"from", "von", "de", "van", "da", "från", "fra"})
_SUBJECT = frozenset(
    {"subject", "betreff", "objet", "asunto", "onderwerp", "oggetto", "ämne", "emne"}
)
_MAILTO_RE = re.compile(r"\[mailto:([^\]\s]{1,320})\]")
_FWD_PREFIX_RE = re.compile(r"^[ \t]*(?:(?:fwd?|wg|tr|rv|enc|fw)[ \t]*:[ \t]*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Forwarded:
    sender: Address
    subject: str
    text: str
    message_id: str = ""


def _address(value: str) -> Address | None:
    value = _MAILTO_RE.sub(lambda m: f"<{m.group(1)}>", value.strip())
    name, email = parseaddr(value)
    if "@" not in email:
        return None
    return Address(name.strip().strip('"'), email.strip())


def without_forward_prefix(subject: str) -> str:
    """ "Fwd: WG: Printer" → "Printer"."""
    return _FWD_PREFIX_RE.sub("", subject).strip()


def _attached(msg: ParsedMessage) -> Forwarded | None:
    for part in msg.attachments:
        if part.content_type != "message/rfc822":
            continue
        inner = parse_message(part.data)
        if inner.from_ is None or "@" not in inner.from_.email:
            continue
        mid = "" if inner.message_id_generated else inner.message_id
        return Forwarded(inner.from_, inner.subject, inner.text.strip(), mid)
    return None


def _inline(text: str) -> Forwarded | None:
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _MARKER_RE.match(line)), None)
    if start is None:
        return None
    fields: dict[str, str] = {}
    index = start + 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    while index < len(lines) and (match := _FIELD_RE.match(lines[index])):
        key = match.group(1).lower()
        kind = "from" if key in _FROM else "subject" if key in _SUBJECT else key
        fields.setdefault(kind, match.group(2).strip().strip("*_").strip())
        index += 1
    sender = _address(fields.get("from", ""))
    if sender is None:
        return None
    rest = lines[index:]
    if rest and all(line.startswith(">") for line in rest if line.strip()):
        rest = [line[1:].removeprefix(" ") for line in rest]  # Apple Mail quotes the forward
    body = "\n".join(rest)
    return Forwarded(sender, fields.get("subject", ""), body.strip())


def recover_forward(msg: ParsedMessage, text: str) -> Forwarded | None:
    """The forwarded original in ``msg`` (attached first, then inline in ``text``)."""
    return _attached(msg) or _inline(text)
