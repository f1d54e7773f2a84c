"""Abuse complaints: a recipient told their mail provider that our mail was unwanted.

Providers send such complaints back to the sender as feedback reports (ARF,
RFC 5965): a ``multipart/report; report-type=feedback-report`` whose
``message/feedback-report`` part says what kind of complaint it is
(``Feedback-Type: abuse``, ``opt-out``, ...) and, often, to whom the original
was delivered (``Original-Rcpt-To``), followed by the original message or its
headers. Two older shapes carry the same facts: Microsoft's junk-mail reports
(the original enclosed with an ``X-HmXmrOriginalRecipient`` header) and
Amazon SES complaint notifications (JSON).

A complaint is not a bounce: the mail was delivered, and no delivery failed.
It still means "stop mailing this person", so the desk treats the
complainant like an address that bounced for good. Reading never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from echodesk.mailbox.message import AttachmentPart, ParsedMessage

#: Only this much of each part is read.
MAX_TEXT = 200_000
#: At most this many complainants are reported.
MAX_RECIPIENTS = 100

_FEEDBACK_PART = "message/feedback-report"
_ORIGINAL_PARTS = ("message/rfc822", "text/rfc822-headers", "message/global")
#: Microsoft's junk-mail reports mark the enclosed original with this header.
_JMRP_HEADER = "x-hmxmroriginalrecipient"
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_ID = re.compile(r"<([^<>\s]{1,900})>")


@dataclass(frozen=True)
class ComplaintReport:
    """Who complained about which message of ours, and how the report calls it."""

    #: ``abuse``, ``opt-out``, ``fraud``, ``not-spam``... (``abuse`` when the report does not say).
    feedback_type: str
    #: The addresses the complained-about message was delivered to, as the report gives them.
    recipients: tuple[str, ...]
    original_message_id: str
    #: The original's envelope sender and From: Echo's VERP address, when it was our mail.
    original_senders: tuple[str, ...]
    #: Who sent the report (``User-Agent`` of the feedback part, or the report's From).
    reporter: str

    @property
    def unwanted(self) -> bool:
        """Whether a person said they do not want this mail.

        ``not-spam`` says the opposite, and ``auth-failure`` (RFC 6591) reports a
        failed DKIM/SPF check, not a person's wish: neither should silence anyone.
        """
        return self.feedback_type not in _NOT_UNWANTED


_NOT_UNWANTED = frozenset({"not-spam", "auth-failure"})


EMPTY = ComplaintReport("", (), "", (), "")


def is_complaint(msg: ParsedMessage) -> str:
    """Why ``msg`` is a complaint report ('' when it is not one).

    Decided by structure alone, before any bounce or auto-reply test: a feedback
    report also carries the original's headers, which could otherwise pass for
    a returned message.
    """
    ctype = msg.header("content-type").lower()
    if ctype.startswith("multipart/report") and re.search(r"report-type\s*=\s*\"?feedback", ctype):
        return "feedback report (ARF)"
    if any(p.content_type == _FEEDBACK_PART for p in msg.attachments):
        return "carries a message/feedback-report part (ARF)"
    if any(_jmrp_original(p) for p in msg.attachments):
        return "junk-mail report enclosing the original (X-HmXmrOriginalRecipient)"
    if _ses_complaint(msg.text) is not None:
        return "complaint notification (Amazon SES)"
    return ""


def read_complaint(msg: ParsedMessage, own_addresses: Iterable[str] = ()) -> ComplaintReport:
    """The complainants and the original of a complaint report; ``EMPTY`` if unreadable."""
    own = frozenset(a.strip().lower() for a in own_addresses)
    try:
        report = _read(msg)
    # Hostile input must never stop the pipeline: an unreadable report names nobody.
    except Exception:  # noqa: BLE001
        return EMPTY
    recipients = tuple(a for a in report.recipients if a not in own)
    return ComplaintReport(
        report.feedback_type,
        recipients,
        report.original_message_id,
        report.original_senders,
        report.reporter,
    )


def _read(msg: ParsedMessage) -> ComplaintReport:
    ses = _ses_complaint(msg.text)
    if ses is not None:
        return ses
    fields = _feedback_fields(msg)
    head = _original_headers(msg)
    listed = _addresses(fields.get("original-rcpt-to", []) + fields.get("removal-recipient", []))
    if not listed:
        listed = _addresses(head.get_all(_JMRP_HEADER, []) + head.get_all("to", []))
    message_id = _message_id(str(head.get("message-id", "") or ""))
    senders = _addresses(
        head.get_all("return-path", [])
        + head.get_all("from", [])
        + fields.get("original-mail-from", [])
    )
    kind = (fields.get("feedback-type") or ["abuse"])[0].strip().lower()[:40] or "abuse"
    sender = msg.from_.key if msg.from_ is not None else ""
    reporter = (fields.get("user-agent") or [sender])[0].strip()[:200]
    return ComplaintReport(kind, listed, message_id, senders, reporter)


def _message_id(value: str) -> str:
    """A Message-ID as written, with or without its angle brackets ('' if none)."""
    found = _ID.search(value)
    bare = value.strip()
    return found.group(1) if found else bare if bare and " " not in bare else ""


def _feedback_fields(msg: ParsedMessage) -> dict[str, list[str]]:
    """The fields of the ``message/feedback-report`` part, every value of each, in order.

    Some reporters paste the fields into the text instead of a part of their
    own; the text is read then.
    """
    part = next((p for p in msg.attachments if p.content_type == _FEEDBACK_PART), None)
    text = part.data[:MAX_TEXT].decode("utf-8", "replace") if part else msg.text[:MAX_TEXT]
    fields: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,40}", name.strip()):
            fields.setdefault(name.strip().lower(), []).append(value.strip()[:1000])
    return fields


def _original_headers(msg: ParsedMessage) -> Message:
    """The header block of the enclosed original (empty when the report encloses none)."""
    part = next((p for p in msg.attachments if p.content_type.startswith(_ORIGINAL_PARTS)), None)
    text = part.data[:MAX_TEXT].decode("utf-8", "replace") if part is not None else ""
    return HeaderParser().parsestr(text.replace("\r\n", "\n"), headersonly=True)


def _jmrp_original(part: AttachmentPart) -> bool:
    """An enclosed original that carries Microsoft's junk-mail report marker."""
    if not part.content_type.startswith(_ORIGINAL_PARTS):
        return False
    head = part.data[:MAX_TEXT].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return b"\n" + _JMRP_HEADER.encode() + b":" in b"\n" + head.lower()


def _addresses(values: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased addresses found in ``values``, once each, in order."""
    seen: dict[str, None] = {}
    for value in values:
        for match in _ADDRESS.finditer(str(value)[:1000]):
            if len(seen) < MAX_RECIPIENTS:
                seen.setdefault(match.group(0).lower().strip("."), None)
    return tuple(seen)


def _ses_complaint(text: str) -> ComplaintReport | None:
    """An Amazon SES (or SNS-wrapped SES) complaint notification, or None."""
    data = _json_object(text[:MAX_TEXT]) if "Complaint" in text[:MAX_TEXT] else None
    if data is None:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    section = data.get("complaint")
    if kind != "complaint" or not isinstance(section, dict):
        return None
    listed = section.get("complainedRecipients")
    people = [str(r.get("emailAddress", "")) for r in _dicts(listed)]
    mail = data.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    common = mail.get("commonHeaders")
    found = _ID.search(str(common.get("messageId", ""))) if isinstance(common, dict) else None
    return ComplaintReport(
        str(section.get("complaintFeedbackType") or "abuse").lower()[:40],
        _addresses(people),
        found.group(1) if found else "",
        _addresses([str(mail.get("source", ""))]),
        str(section.get("userAgent") or "Amazon SES")[:200],
    )


def _json_object(text: str) -> dict[str, object] | None:
    """The first JSON object of ``text``, unwrapped from an SNS envelope; None if none."""
    start = text.find("{")
    if start == -1:
        return None
    decoder = json.JSONDecoder(strict=False)
    try:  # Sendmail breaks long lines with "!" + newline + space.
        data, _ = decoder.raw_decode(text[start:].replace("!\n ", ""))
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data = decoder.decode(data["Message"])
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _dicts(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)][:MAX_RECIPIENTS]
