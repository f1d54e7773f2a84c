"""Outgoing mail as bytes: a reply that threads in the customer's mail client.

Built with the stdlib ``email`` API (policy SMTP: CRLF, RFC 2047 names and
subjects, RFC 2231 file names), except for three headers: Message-ID,
In-Reply-To and References are written raw, one id per folded line, because
the email package re-folds long ids into encoded words when it writes a
message, which silently breaks threading at the receiver.

The text part is what the agent wrote; the HTML part is a plain rendering of
the same text (escaped, paragraphs, quoted lines as blockquotes, links), so
nothing an agent types can become markup.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

from echodesk.errors import DeliveryError
from echodesk.mailbox.message import Address, AttachmentPart

__all__ = [
    "OutgoingMail",
    "compose",
    "html_from_text",
    "new_message_id",
    "reply_subject",
    "shorten_references",
]

_POLICY = policy.SMTP.clone(max_line_length=78)
MAX_REFERENCES = 10  # first id + the nine nearest: enough for any client to thread


@dataclass(frozen=True)
class OutgoingMail:
    """One outgoing message, before it is written as bytes.

    Ids are bare (no angle brackets). ``auto_submitted`` is empty for mail a
    person wrote and ``auto-replied`` / ``auto-generated`` for mail Echo sends
    on its own (RFC 3834), which also asks Exchange not to answer it.
    ``loop_marker`` is the installation's X-Echodesk-Loop value
    (:func:`~echodesk.mailbox.classify.loop_marker`): the id in it is how this
    installation, and only this one, knows its own mail when it comes back.
    """

    from_: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    message_id: str
    date: datetime
    reply_to: Address | None = None
    cc: tuple[Address, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    attachments: tuple[AttachmentPart, ...] = ()
    auto_submitted: str = ""
    loop_marker: str = ""


def new_message_id(domain: str) -> str:
    """A fresh, bare Message-ID on the installation's domain."""
    return f"echo.{secrets.token_hex(12)}@{domain}"


_REPLY_PREFIX_RE = re.compile(
    r"^[ \t]*(?:(?:re|aw|sv|vs|antw|antwort|ref|rif|odp|res|ynt|r|回复|答复|回覆)"
    r"[ \t]{0,3}(?:\[\d{1,4}\]|\(\d{1,4}\))?[ \t]{0,3}[:\uff1a][ \t]*)+",
    re.IGNORECASE,
)


def reply_subject(subject: str, tag_pattern: re.Pattern[str], label: str) -> str:
    """``Re: <subject> [TKT-0042]``: one reply prefix, one ticket tag, whatever came in.

    Reply prefixes in other languages (AW:, SV:, Antw:, 回复:) and repeated ones
    are dropped, and so is every ticket tag already in the subject.
    """
    base = tag_pattern.sub(" ", subject)
    base = " ".join(base.split())
    base = _REPLY_PREFIX_RE.sub("", base).strip()
    return f"Re: {base} [{label}]" if base else f"Re: [{label}]"


def shorten_references(ids: tuple[str, ...], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """Keep the thread's first id and the most recent ones (RFC 5322 3.6.4, RFC 5537).

    The first id lets a client find the root; the latest ones its parent. A
    very long chain would otherwise grow every message and hit line limits.
    """
    unique = tuple(dict.fromkeys(i for i in ids if i))
    if len(unique) <= limit:
        return unique
    return (unique[0], *unique[-(limit - 1) :])


_URL_RE = re.compile(r"\bhttps?://[^\s<>\"']{1,2000}", re.IGNORECASE)
_TRAILING_PUNCT = ".,;:!?)]}'\""


def _linkify(line: str) -> str:
    """Escape a line of text and turn http(s) URLs into links (escaped twice over)."""
    out: list[str] = []
    last = 0
    for match in _URL_RE.finditer(line):
        url = match.group(0)
        stripped = url.rstrip(_TRAILING_PUNCT)
        end = match.start() + len(stripped)
        out.append(html.escape(line[last : match.start()]))
        href = html.escape(stripped, quote=True)
        out.append(f'<a href="{href}" rel="noopener noreferrer">{href}</a>')
        last = end
    out.append(html.escape(line[last:]))
    return "".join(out)


def _blocks(text: str) -> list[tuple[bool, list[str]]]:
    """Paragraphs as (quoted, lines): a blank line or a change of quoting ends one."""
    blocks: list[tuple[bool, list[str]]] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        quoted = line.lstrip().startswith(">")
        if quoted:
            line = line.lstrip()[1:].removeprefix(" ")
        if not line.strip() and not quoted:
            blocks.append((False, []))
            continue
        if blocks and blocks[-1][1] and blocks[-1][0] == quoted:
            blocks[-1][1].append(line)
        else:
            blocks.append((quoted, [line]))
    return [b for b in blocks if b[1]]


def html_from_text(text: str) -> str:
    """A simple, safe HTML rendering of plain text (nothing in it becomes markup)."""
    parts = []
    for quoted, lines in _blocks(text):
        body = "<br>\n".join(_linkify(line) for line in lines)
        if quoted:
            parts.append(
                '<blockquote style="margin:0 0 0 .8em;border-left:2px solid #ccc;'
                f'padding-left:.8em;color:#555">{body}</blockquote>'
            )
        else:
            parts.append(f'<p style="margin:0 0 1em 0">{body}</p>')
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family:sans-serif;font-size:14px;line-height:1.4">\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def _header_address(address: Address) -> HeaderAddress:
    """An address for a header; a display name with non-ASCII becomes an encoded word."""
    email = address.email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or any(c in email for c in "\r\n<>,; \t"):
        raise DeliveryError(f"cannot write to {email!r}: not a usable mail address")
    name = " ".join(address.name.split())
    return HeaderAddress(display_name=name, username=local, domain=domain)


def _id_header(name: str, ids: tuple[str, ...]) -> bytes:
    """``Name: <a>`` with each further id on a folded line of its own, written raw."""
    for mid in ids:
        if any(c in mid for c in "\r\n<> \t") or len(mid) > 900:
            raise DeliveryError(f"{name}: {mid[:60]!r} is not a usable Message-ID")
    return (f"{name}: " + "\r\n ".join(f"<{mid}>" for mid in ids) + "\r\n").encode("ascii")


def _attach(msg: EmailMessage, part: AttachmentPart) -> None:
    maintype, _, subtype = part.content_type.lower().partition("/")
    if not maintype or not subtype or maintype in ("multipart", "message"):
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(
        part.data,
        maintype=maintype,
        subtype=subtype,
        filename=part.filename or "attachment",
    )


def compose(mail: OutgoingMail) -> bytes:
    """The message as bytes (CRLF), ready for SMTP or an .eml file."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _header_address(mail.from_)
    if mail.to:
        msg["To"] = [_header_address(a) for a in mail.to]
    if mail.cc:
        msg["Cc"] = [_header_address(a) for a in mail.cc]
    if mail.reply_to is not None:
        msg["Reply-To"] = _header_address(mail.reply_to)
    msg["Subject"] = " ".join(mail.subject.split())
    msg["Date"] = format_datetime(mail.date)
    if mail.auto_submitted:
        msg["Auto-Submitted"] = mail.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    if mail.loop_marker:
        msg["X-Echodesk-Loop"] = mail.loop_marker
    # Quoted-printable for anything beyond ASCII: not every relay takes 8-bit data.
    text = mail.text if mail.text.endswith("\n") else mail.text + "\n"
    plain = text.isascii() and max(map(len, text.split("\n"))) <= 998
    cte = "7bit" if plain else "quoted-printable"
    msg.set_content(text, cte=cte)
    msg.add_alternative(html_from_text(mail.text), subtype="html", cte="quoted-printable")
    for part in mail.attachments:
        _attach(msg, part)
    ids = _id_header("Message-ID", (mail.message_id,))
    if mail.in_reply_to:
        ids += _id_header("In-Reply-To", (mail.in_reply_to,))
    if mail.references:
        ids += _id_header("References", mail.references)
    return ids + msg.as_bytes(policy=_POLICY)
