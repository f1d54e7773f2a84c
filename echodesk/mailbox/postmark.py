"""Postmark's webhook JSON as raw mail: the inbound message, and a bounce as a DSN.

Mail that arrives by webhook must meet the same parser, threading, rules and
commands as mail that arrives by SMTP, so the webhook's JSON is turned back
into the raw message the spool holds: ``RawEmail`` as-is when Postmark sends
it, otherwise a message rebuilt from the fields (headers from ``Headers``,
the text and HTML bodies, the attachments). Threading headers are written
raw, as :mod:`echodesk.mailbox.compose` does, so long ids are never re-folded.
A redelivered payload gives the same bytes, so the spool sees a duplicate.

A bounce webhook becomes an RFC 3464 report addressed to the bounce (VERP)
address of the mail it is about, so the pipeline treats it exactly as the
DSN a mail server would have sent.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from echodesk.errors import EchoError

#: UTF-8 headers as SMTPUTF8 carries them: an encoded word cannot hold an address.
_POLICY = policy.SMTP.clone(max_line_length=78, utf8=True)
#: Headers rebuilt from the fields (or describing the old MIME structure): not copied.
_STRUCTURAL = frozenset(
    {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}
)
_THREADING = ("message-id", "in-reply-to", "references")
_ID_RE = re.compile(r"<([^<>\s]{1,900})>")


class PayloadError(EchoError):
    """The webhook's JSON lacks something needed, or holds the wrong type (HTTP 400)."""


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{key}: expected text, got {type(value).__name__}")
    return value


def _headers(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    raw = payload.get("Headers") or []
    if not isinstance(raw, list):
        raise PayloadError("Headers: expected a list of {Name, Value}")
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise PayloadError(f"Headers[{index}]: expected {{Name, Value}}")
        name, value = item.get("Name"), item.get("Value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise PayloadError(f"Headers[{index}]: Name and Value must be text")
        clean = " ".join(value.replace("\r", " ").replace("\n", " ").split())
        if name and re.fullmatch(r"[!-9;-~]{1,100}", name):
            out.append((name, clean))
    return out


_TOKEN_RE = re.compile(r"[a-z0-9!#$&^_.+-]{1,64}")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/=\r\n ]*")


def _lenient_b64(content: str) -> bytes:
    """Base64 as senders write it: line breaks, missing padding and a stray tail allowed."""
    letters = re.sub(r"[^A-Za-z0-9+/]", "", content)
    letters = letters[: len(letters) - len(letters) % 4 if len(letters) % 4 == 1 else None]
    try:
        return base64.b64decode(letters + "=" * (-len(letters) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the alphabet was checked
        return b""


def _set(msg: EmailMessage, name: str, value: str) -> None:
    """Write one header from a JSON field; one the email package refuses is left out."""
    clean = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    # A refused one stays in the JSON only; the message keeps what can be written.
    with contextlib.suppress(ValueError, TypeError, IndexError, AttributeError):
        msg[name] = clean


def _full_address(full: Any) -> str:
    """``FromFull`` as a From header's text ("" when it holds no address)."""
    if not isinstance(full, dict) or not isinstance(full.get("Email"), str):
        return ""
    email = str(full["Email"]).strip()
    if "@" not in email:
        return ""
    name = full.get("Name")
    if not isinstance(name, str) or not name.strip():
        return email
    quoted = name.strip().replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{email}>'


def _id_line(name: str, value: str) -> bytes:
    ids = _ID_RE.findall(value)
    if not ids:
        return b""
    return (f"{name}: " + "\r\n ".join(f"<{i}>" for i in ids) + "\r\n").encode("ascii", "replace")


def _attach(msg: EmailMessage, index: int, item: Any) -> None:
    if not isinstance(item, dict):
        raise PayloadError(f"Attachments[{index}]: expected an object")
    name = item.get("Name") or f"attachment-{index + 1}"
    content = item.get("Content") or ""
    ctype = item.get("ContentType") or "application/octet-stream"
    if not isinstance(name, str) or not isinstance(content, str) or not isinstance(ctype, str):
        raise PayloadError(f"Attachments[{index}]: Name, Content and ContentType are text")
    if not _BASE64_RE.fullmatch(content):
        raise PayloadError(f"Attachments[{index}].Content: not base64")
    data = _lenient_b64(content)
    maintype, _, subtype = ctype.strip().lower().partition("/")
    if not (_TOKEN_RE.fullmatch(maintype) and _TOKEN_RE.fullmatch(subtype)) or maintype in (
        "multipart",
        "message",
    ):
        maintype, subtype = "application", "octet-stream"
    cid = item.get("ContentID")
    cid = re.sub(r"[^!-;=?-~]", "", cid) if isinstance(cid, str) else ""
    msg.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename=" ".join(name.split())[:200] or f"attachment-{index + 1}",
        disposition="inline" if cid else "attachment",
        cid=f"<{cid[:200]}>" if cid else None,
    )


def _clean(value: Any) -> Any:
    """JSON with lone surrogates (valid JSON, not valid text) made into text."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def inbound_to_raw(payload: Mapping[str, Any]) -> bytes:
    """The raw message of an inbound webhook (``RawEmail`` itself when it is there)."""
    try:
        return _build(_clean(payload))
    except (ValueError, TypeError, IndexError, LookupError, UnicodeError) as exc:
        raise PayloadError(f"the message could not be rebuilt from the JSON ({exc})") from None


def _build(payload: Mapping[str, Any]) -> bytes:
    raw_email = payload.get("RawEmail")
    if isinstance(raw_email, str) and raw_email.strip():
        return raw_email.encode("utf-8", "surrogateescape")
    sender = _text(payload, "From").strip() or _full_address(payload.get("FromFull"))
    if not sender:
        raise PayloadError("From: required (or FromFull, or RawEmail)")
    headers = _headers(payload)
    names = {n.lower() for n, _ in headers}
    msg = EmailMessage(policy=_POLICY)
    for name, value in headers:
        low = name.lower()
        if low in _STRUCTURAL or low in _THREADING or low in msg:
            continue
        try:
            msg[name] = value
        except (ValueError, TypeError):
            continue  # a header the email package cannot write: left out, not fatal
    if "from" not in names:
        _set(msg, "From", sender)
    for field, header in (
        ("To", "To"),
        ("Cc", "Cc"),
        ("ReplyTo", "Reply-To"),
        ("Subject", "Subject"),
    ):
        value = _text(payload, field)
        if value and header.lower() not in names:
            _set(msg, header, value)
    if "date" not in names and (date := _text(payload, "Date")):
        try:
            _set(msg, "Date", format_datetime(parsedate_to_datetime(date)))
        except (TypeError, ValueError, IndexError):
            _set(msg, "Date", date)
    text, html = _text(payload, "TextBody"), _text(payload, "HtmlBody")
    msg.set_content(text or "", cte="quoted-printable")
    if html:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    attachments = payload.get("Attachments") or []
    if not isinstance(attachments, list):
        raise PayloadError("Attachments: expected a list")
    for index, item in enumerate(attachments):
        _attach(msg, index, item)
    # Boundaries from the payload itself: a redelivery gives the very same bytes.
    seed = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    for index, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_echodesk_{seed[:24]}_{index}")
    found = dict((n.lower(), v) for n, v in headers)
    ids = _id_line("Message-ID", found.get("message-id", ""))
    if not ids and (postmark_id := _text(payload, "MessageID")):
        ids = _id_line("Message-ID", f"<{postmark_id}@inbound.postmarkapp.com>")
    ids += _id_line("In-Reply-To", found.get("in-reply-to", ""))
    ids += _id_line("References", found.get("references", ""))
    return ids + msg.as_bytes(policy=_POLICY)


#: Postmark's bounce Type -> (RFC 3463 status, DSN action). Others: recorded only.
BOUNCE_STATUS = {
    "HardBounce": ("5.1.1", "failed"),
    "BadEmailAddress": ("5.1.3", "failed"),
    "ManuallyDeactivated": ("5.2.1", "failed"),
    "Blocked": ("5.7.1", "failed"),
    "DMARCPolicy": ("5.7.26", "failed"),
    "SoftBounce": ("4.2.0", "delayed"),
    "Transient": ("4.4.1", "delayed"),
    "DnsError": ("4.4.3", "delayed"),
}


def bounce_to_dsn(payload: Mapping[str, Any], to: str, reporter: str) -> bytes:
    """A delivery status notification saying what Postmark's bounce webhook says."""
    email = _text(payload, "Email").strip()
    if "@" not in email:
        raise PayloadError("Email: the address that bounced is required")
    kind = _text(payload, "Type") or _text(payload, "RecordType") or "Unknown"
    status, action = BOUNCE_STATUS.get(kind, ("2.0.0", "relayed"))
    details = " ".join((_text(payload, "Details") or _text(payload, "Description")).split())
    reference = _text(payload, "MessageID") or str(payload.get("ID", ""))
    boundary = "=_echodesk_bounce_webhook"
    fields = (
        f"Reporting-MTA: dns; {reporter}\r\n"
        f"X-Postmark-Type: {kind[:60]}\r\n\r\n"
        f"Final-Recipient: rfc822; {email}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {details[:400] or kind}\r\n"
    )
    human = f"Postmark reported a {kind} for {email}.\r\n{details[:2000]}\r\n"
    when = _text(payload, "BouncedAt")
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{human}\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{fields}\r\n"
        f"--{boundary}--\r\n"
    )
    head = (
        f"From: Postmark bounce webhook <mailer-daemon@{reporter}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: Undelivered mail: {kind[:60]}\r\n"
        f"Message-ID: <bounce.{re.sub(r'[^A-Za-z0-9.-]', '', reference)[:100] or 'x'}."
        f"{re.sub(r'[^A-Za-z0-9]', '', email)[:60]}@{reporter}>\r\n"
        + (f"X-Bounced-At: {when[:60]}\r\n" if when else "")
        + "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
    )
    return (head + "\r\n" + body).encode("utf-8", "replace")
