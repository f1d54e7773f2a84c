"""What kind of mail this is, judged from the message alone.

Order matters (DESIGN §2): a bounce is recognised before an auto-reply, and
both before customer mail, because Echo must never answer either. Each
verdict carries the reason (the header or pattern that decided it), which
ends up in the spool row and the audit log. Duplicates, agents and spam need
the database or settings and are judged by the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from echodesk.mailbox.bounce import read_bounce
from echodesk.mailbox.message import ParsedMessage


class Kind(StrEnum):
    CUSTOMER = "customer"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    LOOP = "loop"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str


LOOP_HEADER = "x-echodesk-loop"
_INSTALLATION_ID = re.compile(r"[0-9a-f]{16}")


def loop_marker(installation_id: str, domain: str) -> str:
    """The X-Echodesk-Loop value for every message Echo sends: ``<id>.<domain>``.

    The id (derived from the installation's secret, see ``desk.tokens``) is
    what :func:`classify` recognises; the outgoing domain after it is the
    value written before ids existed, kept for people reading the headers.
    """
    return f"{installation_id}.{domain}" if domain else installation_id


def loop_id(value: str) -> str:
    """The installation id an X-Echodesk-Loop value carries ('' if it carries none).

    The old value was the outgoing domain alone: it names no installation
    (two desks on one domain wrote the same value, and anyone can write it),
    so it carries no id, and Echo's own mail that comes back with it is still
    stopped by its From (Echo's address) and its Auto-Submitted header.
    """
    head = value.strip().lower().split(".", 1)[0]
    return head if _INSTALLATION_ID.fullmatch(head) else ""


_BOUNCE_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|post_master|mail-daemon|mailerdaemon)(@|$)", re.I
)
_BOUNCE_NAMES = re.compile(
    r"mailer[- ]?daemon|mail delivery (system|subsystem|service)|postmaster|"
    r"system administrator|mail administrator",
    re.I,
)
_BOUNCE_SUBJECTS = re.compile(
    r"(undeliver(ed|able)|delivery (status notification|failure|has failed)|returned mail|"
    r"failure notice|mail delivery (failed|failure|subsystem)|non[- ]?delivery|"
    r"delivery notification|could not be delivered|unzustellbar|nicht zustellbar|"
    r"warning: message .* delayed|delayed mail|delivery delayed|returned to sender)",
    re.I,
)
_AUTO_SUBJECTS = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica|"
    r"risposta automatica|automatisch antwoord|autosvar|vacation)\s*:",
    re.I,
)
_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


def classify(
    msg: ParsedMessage, own_addresses: Iterable[str] = (), installation_id: str = ""
) -> Verdict:
    """Bounce, loop, auto-reply or customer mail, with the reason.

    ``installation_id`` is this installation's id: only an X-Echodesk-Loop
    header carrying it makes a loop. Mail from another Echo installation is
    judged like any other mail (its acknowledgements are still auto-replies).
    """
    own = tuple(own_addresses)
    return (
        _bounce(msg, own)
        or _loop(msg, own, installation_id)
        or _bounce_by_content(msg, own)
        or _auto_reply(msg, own)
        or Verdict(Kind.CUSTOMER, "")
    )


def _content_type_params(msg: ParsedMessage) -> tuple[str, str]:
    value = msg.header("content-type").lower()
    ctype = value.split(";", 1)[0].strip()
    match = re.search(r'report-type\s*=\s*"?([\w-]+)', value)
    return ctype, match.group(1) if match else ""


def _bounce(msg: ParsedMessage, _own: Iterable[str]) -> Verdict | None:
    ctype, report = _content_type_params(msg)
    if ctype == "multipart/report" and report == "delivery-status":
        return Verdict(Kind.BOUNCE, "multipart/report; report-type=delivery-status")
    if ctype == "multipart/report" and report == "feedback-report":
        return Verdict(Kind.BOUNCE, "feedback report (ARF complaint)")
    if any(a.content_type == "message/delivery-status" for a in msg.attachments):
        return Verdict(Kind.BOUNCE, "carries a message/delivery-status report")
    if msg.header("x-failed-recipients"):
        return Verdict(Kind.BOUNCE, "X-Failed-Recipients")
    if _from_mail_system(msg) and (
        _BOUNCE_SUBJECTS.search(msg.subject)
        or any(a.content_type in _RETURNED for a in msg.attachments)
    ):
        return Verdict(Kind.BOUNCE, "sent by a mail system, with a delivery-failure report")
    return None


_RETURNED = frozenset({"message/rfc822", "text/rfc822-headers", "message/delivery-status"})


def _may_be_bounce(msg: ParsedMessage) -> bool:
    """Cheap hints that a mail system, not a person, wrote this: worth reading its text.

    A null envelope sender (``Return-Path: <>``, RFC 5321 4.5.5), a missing From
    (``MAILER-DAEMON <>``), a mailer-daemon From, or a delivery-failure subject.
    """
    null_sender = any(v.strip() == "<>" for v in msg.headers.get("return-path", ()))
    return (
        null_sender
        or msg.from_ is None
        or _from_mail_system(msg)
        or bool(_BOUNCE_SUBJECTS.search(msg.subject))
    )


def _bounce_by_content(msg: ParsedMessage, own: Iterable[str]) -> Verdict | None:
    """A plain-text failure notice (DragonFly, qmail, old Sendmail...) read for what failed.

    Only mail that carries a hint of a mail system is read, and only a report
    that names a failed or delayed recipient makes it a bounce, so a customer
    writing about an "undeliverable parcel" stays a customer.
    """
    if not _may_be_bounce(msg):
        return None
    report = read_bounce(msg, own)
    if any(r.permanent or r.temporary for r in report.recipients):
        return Verdict(Kind.BOUNCE, f"delivery failure report ({report.format}) from a mail system")
    return None


def _from_mail_system(msg: ParsedMessage) -> bool:
    """From names a mailer daemon or postmaster (by address or, for ``<>``, by name)."""
    if msg.from_ is None:
        return False
    return bool(_BOUNCE_SENDERS.match(msg.from_.key) or _BOUNCE_NAMES.search(msg.from_.name))


def _loop(msg: ParsedMessage, own: Iterable[str], installation_id: str) -> Verdict | None:
    """Mail this installation sent, come back: its own loop id, or its own From address."""
    ids = {loop_id(value) for value in msg.headers.get(LOOP_HEADER, ())}
    if installation_id and installation_id.lower() in ids:
        return Verdict(Kind.LOOP, "X-Echodesk-Loop with this installation's id (mail Echo sent)")
    sender = msg.from_.key if msg.from_ else ""
    if sender and sender in {a.strip().lower() for a in own}:
        return Verdict(Kind.LOOP, f"From is Echo's own address {sender}")
    return None


def _auto_reply(msg: ParsedMessage, _own: Iterable[str]) -> Verdict | None:
    auto = msg.header("auto-submitted").split(";", 1)[0].strip().lower()
    if auto and auto != "no":  # RFC 3834: "no" means a person sent it
        return Verdict(Kind.AUTO_REPLY, f"Auto-Submitted: {auto}")
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        value = msg.header(name).strip().lower()
        if value and value not in ("no", "false", "0"):
            return Verdict(Kind.AUTO_REPLY, f"{name}: {value[:40]}")
    precedence = msg.header("precedence").strip().lower()
    if precedence in _PRECEDENCE:
        return Verdict(Kind.AUTO_REPLY, f"Precedence: {precedence}")
    suppress = msg.header("x-auto-response-suppress").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return Verdict(Kind.AUTO_REPLY, f"X-Auto-Response-Suppress: {suppress[:40]}")
    ctype, report = _content_type_params(msg)
    if ctype == "multipart/report" and report == "disposition-notification":
        return Verdict(Kind.AUTO_REPLY, "read receipt (disposition-notification)")
    if _AUTO_SUBJECTS.search(msg.subject):  # "Automatic reply: ...", "Out of Office: ..."
        return Verdict(Kind.AUTO_REPLY, "auto-reply subject")
    return None
