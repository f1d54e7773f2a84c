"""Who bounced: the failed recipients named by a delivery-failure report.

:func:`echodesk.mailbox.classify.classify` decides *whether* a message is a
bounce; this module reads *what* bounced, so the desk can mark a customer as
bounced and stop mailing them. Reports come in two families:

* RFC 3464 delivery-status notifications: a ``message/delivery-status`` part
  (or its fields pasted into the text by MTAs that build no MIME), and Amazon
  SES's JSON notifications, which carry the same fields;
* plain-text reports of MTAs and providers that never adopted DSN (Exim,
  qmail, Gmail, Exchange, Lotus Notes, ...). These are read by one generic
  reader driven by a table of named formats: each names the phrase that opens
  its "these recipients failed" section, tried in order.

A failed recipient is an address the report names as failed, never merely
one that appears in it: the bounce's own From/To, the returned original's
sender and Echo's own addresses are left out of what text readers find.

Everything here reads hostile input, so nothing raises, every repetition in
a pattern is bounded (and address matches may only start where an address
can start), lines are cut to a fixed length before matching, and the work is
capped (the first 200 kB of text, 100 recipients): a megabyte of junk costs
milliseconds.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import HeaderParser

from echodesk.mailbox.complaint import is_complaint
from echodesk.mailbox.message import AttachmentPart, ParsedMessage

#: At most this many recipients are reported (a list expansion can name thousands).
MAX_RECIPIENTS = 100
#: Only this much of the text body (and of each report part) is read.
MAX_TEXT = 200_000
#: Each line is cut to this length before any pattern sees it.
MAX_LINE = 1_000
#: Diagnostics are one line of at most this many characters.
MAX_DIAGNOSTIC = 300
#: A failed section is read for at most this many lines after its opening phrase.
MAX_SECTION = 1_000

_ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient a report names, with what the report says about it."""

    address: str
    status: str
    action: str
    diagnostic: str

    @property
    def permanent(self) -> bool:
        """A hard failure: the address should not be mailed again as it is.

        ``failed`` means the sending system has given up on the message, so it
        is final for Echo even with a 4.x.x status (a queue that expired, a
        server that kept deferring): nothing will retry it. Otherwise a 5.x.x
        status decides.
        """
        if self.action == "failed":
            return True
        return self.action != "delivered" and self.status.startswith("5")

    @property
    def temporary(self) -> bool:
        """A transient problem: delivery is still being retried (a delay notice)."""
        if self.permanent or self.action == "delivered":
            return False
        return self.status.startswith("4") or self.action == "delayed"


@dataclass(frozen=True)
class BounceReport:
    """What one bounce says: who failed, and which message of ours came back."""

    recipients: tuple[FailedRecipient, ...]
    original_message_id: str
    original_to: tuple[str, ...]
    format: str

    @property
    def permanent(self) -> bool:
        """Whether any recipient failed for good."""
        return any(r.permanent for r in self.recipients)


EMPTY = BounceReport((), "", (), "")


def read_bounce(msg: ParsedMessage, own_addresses: Iterable[str] = ()) -> BounceReport:
    """The failed recipients and returned original of a bounce; ``EMPTY`` if unreadable.

    ``own_addresses`` are Echo's own mailboxes: never reported as failed.
    """
    try:
        return _read(msg, frozenset(a.strip().lower() for a in own_addresses))
    # The promise is "never raises": a bug meeting hostile input must not stop
    # the pipeline, and an unreadable bounce is simply one that names nobody.
    except Exception:  # noqa: BLE001
        return EMPTY


# -- shared patterns ----------------------------------------------------------

_LOCAL = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~.-"
#: A bare address. The look-behind makes every failed attempt cost one step
#: inside a run of address characters, so the search stays linear.
_ADDR = rf"(?<![{_LOCAL}])[{_LOCAL}]{{1,64}}@[A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}}){{1,8}}"
_ADDR_RE = re.compile(_ADDR)
_ENHANCED = re.compile(r"(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\.?\d)")
_REPLY = re.compile(r"(?<![\w.=/#%+-])([45][0-5]\d)(?=[ \t,;)\]-]|$)")
#: An enhanced code given with the reply it explains: ``550 5.1.1``, ``550-'5.7.1``.
_REPLY_STATUS = re.compile(r"(?<![\w.])[45]\d\d[ -]['\"#]?([45]\.[0-7]\.\d{1,3})(?!\.?\d)")
_FAILURE_STATUS = re.compile(r"(?<![\d.])([45]\.[0-7]\.\d{1,3})(?!\.?\d)")
_BLANKS = re.compile(r"\s+")


def _reply_code(text: str) -> str | None:
    """The first SMTP failure reply code (``550``, ``451``) in ``text``, or None."""
    match = _REPLY.search(text)
    return match.group(1) if match else None


def _enhanced(text: str) -> str:
    """The first RFC 3463 enhanced status code in ``text``, or ''."""
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else ""


def _remote_status(text: str) -> str:
    """The failure code a server gave in ``text``: the one following a reply code, else the first.

    A report that prefixes the server's answer with its own classification
    (SES: ``5.1.0 - Unknown address error 550-'5.7.1 ...'``) still yields the
    server's code. Success codes (2.x.x, from transcripts) are not failures.
    """
    match = _REPLY_STATUS.search(text) or _FAILURE_STATUS.search(text)
    return match.group(1) if match else ""


#: A transport tag glued to the address (Exchange writes ``smtp=user@host``).
_TRANSPORT_TAG = re.compile(r"^(?:smtp|rfc822|sip|x400)=", re.I)


def _address(text: str) -> str:
    """The first plausible address in ``text``, lower-cased; '' if none.

    ``=`` may appear in a local part, so a transport tag such as Exchange's
    ``smtp=`` reads as part of the address; it is dropped.
    """
    for match in _ADDR_RE.finditer(text[:MAX_LINE]):
        addr = _TRANSPORT_TAG.sub("", match.group(0).strip(".").lower())
        local, _, domain = addr.rpartition("@")
        if local and "." in domain and not domain.startswith("-"):
            return addr
    return ""


def _one_line(text: str) -> str:
    """Whitespace collapsed, cut to :data:`MAX_DIAGNOSTIC` characters."""
    return _BLANKS.sub(" ", text).strip()[:MAX_DIAGNOSTIC]


def _lines(text: str) -> list[str]:
    """Lines of at most :data:`MAX_LINE` characters, whatever the line endings."""
    text = text[:MAX_TEXT].replace("\r\n", "\n").replace("\r", "\n")
    return [line[:MAX_LINE] for line in text.split("\n")]


# -- status inference -----------------------------------------------------------


@dataclass(frozen=True)
class _Meaning:
    """Words that say what went wrong, and the RFC 3463 subject.detail they mean."""

    pattern: re.Pattern[str]
    detail: str
    klass: str = ""  # forced class, for codes whose meaning fixes it (4.4.7)


_MEANINGS = (
    _Meaning(
        re.compile(
            r"user unknown|unknown (?:user|recipient|address)|no such (?:user|mailbox|recipient)"
            r"|(?:user|recipient|mailbox|address|account)(?: name)? (?:does not exist|doesn't exist"
            r"|not found|is unknown|unknown|not listed|is not recognized)|not listed in"
            r"|invalid (?:recipient|mailbox|user)|no mailbox|recipientnotfound|addressee unknown"
            r"|address (?:not found|couldn't be found)|no such address",
            re.I,
        ),
        "1.1",
    ),
    _Meaning(
        re.compile(
            r"host (?:unknown|not found)|domain (?:not found|does not exist|unknown)|no such domain"
            r"|unrouteable|host or domain name not found|name service error",
            re.I,
        ),
        "1.2",
    ),
    _Meaning(
        re.compile(r"mailbox (?:disabled|inactive|suspended)|account (?:disabled|suspended)", re.I),
        "2.1",
    ),
    _Meaning(
        re.compile(
            r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:storage|quota)"
            r"|insufficient (?:disk|storage)|mailfolder is full|mailbox size limit",
            re.I,
        ),
        "2.2",
    ),
    _Meaning(
        re.compile(
            r"message (?:is )?too (?:large|big)|size limit exceeded|message size exceeds", re.I
        ),
        "3.4",
    ),
    _Meaning(
        re.compile(
            r"retry timeout exceeded|message expired|delivery time expired|in the queue too long"
            r"|could not be delivered for \d{1,3} days|cannot send message for \d{1,3} days"
            r"|have been failing for a long time|envelope expired",
            re.I,
        ),
        "4.7",
        "4",
    ),
    _Meaning(re.compile(r"relay(?:ing)? (?:denied|not permitted|access denied)", re.I), "7.1"),
)


def _status_from(text: str, klass: str) -> str:
    """An enhanced status for ``text``: as written, or inferred from its reply code and words.

    ``klass`` ("5" for a failure, "4" for a delay) is used when the text holds
    no reply code but its words still say what went wrong.
    """
    written = _remote_status(text)
    if written:
        return written
    code = _reply_code(text)
    klass = code[0] if code is not None else klass
    for meaning in _MEANINGS:
        if meaning.pattern.search(text):
            return f"{meaning.klass or klass}.{meaning.detail}" if klass else ""
    return f"{code[0]}.0.0" if code is not None else ""


# -- the returned original --------------------------------------------------------


@dataclass(frozen=True)
class _Original:
    """What the returned original tells: its id, recipients and sender."""

    message_id: str = ""
    to: tuple[str, ...] = ()
    senders: frozenset[str] = frozenset()


_ID = re.compile(r"<([^<>\s]{1,900})>")
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-header")


def _original_from_headers(head: str) -> _Original:
    """Read the original's Message-ID, To/Cc and sender from a header block."""
    parsed = HeaderParser().parsestr(head[:MAX_TEXT], headersonly=True)
    raw_id = str(parsed.get("message-id", "") or "")
    found = _ID.search(raw_id)
    message_id = found.group(1) if found else raw_id.strip()[:900]
    to = _address_list(parsed.get_all("to", []) + parsed.get_all("cc", []))
    senders = _address_list(
        parsed.get_all("from", [])
        + parsed.get_all("sender", [])
        + parsed.get_all("return-path", [])
    )
    return _Original(message_id if " " not in message_id else "", to, frozenset(senders))


_QUOTED_LOCAL = re.compile(r'^"([^"\\\s]{1,64})"@')


def _address_list(values: list[str]) -> tuple[str, ...]:
    """Lower-cased addresses of address headers, in order, once each."""
    seen: dict[str, None] = {}
    for _, addr in email.utils.getaddresses([str(v) for v in values]):
        key = _QUOTED_LOCAL.sub(r"\1@", addr.strip().lower())
        if "@" in key:
            seen.setdefault(key, None)
    return tuple(seen)


def _attached_original(msg: ParsedMessage) -> _Original | None:
    """The original from an attached message/rfc822 or text/rfc822-headers part.

    Some MTAs attach the original's headers as a plain text file instead
    ("mailheaders.txt"); such a part counts when it starts with a header block.
    """
    for part in msg.attachments:
        plain = part.content_type.startswith("text/plain")
        if not (plain or part.content_type.startswith(_ORIGINAL_TYPES)):
            continue
        head = part.data[:MAX_TEXT].decode("utf-8", "replace")
        if plain and not _starts_with_headers(head):
            continue
        original = _original_from_headers(head)
        if original.message_id or original.to or original.senders:
            return original
    return None


def _starts_with_headers(text: str) -> bool:
    """Text that is a header block from its first line on (an original's headers)."""
    return next(_header_blocks(_lines(text[: MAX_LINE * 20])), (-1, ""))[0] == 0


_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,40}):")
_MAIL_HEADERS = frozenset(
    {
        "received",
        "return-path",
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "dkim-signature",
        "delivered-to",
        "x-received",
        "reply-to",
        "sender",
        "authentication-results",
    }
)


_ORIGIN_HEADERS = frozenset({"from", "received", "return-path", "message-id", "sender"})
#: A quoted bounce's own headers (a forwarded bounce), not the returned original's.
_FROM_MAIL_SYSTEM = re.compile(
    r"^from:[^\n]{0,80}(?:mailer-daemon|mail delivery (?:subsystem|system))", re.I | re.M
)


def _header_blocks(lines: list[str], start: int = 0) -> Iterator[tuple[int, str]]:
    """(first line index, text) of each run of quoted mail header lines.

    A run counts when at least three of its fields are mail header names and
    one says where the message came from (From, Received, ...), so a report's
    own ``Label: value`` lines, its DSN fields and its "To: / Subject: / Date:"
    summary of the failed message are not taken for it.
    """
    index = start
    while index < len(lines):
        if not _HEADER_LINE.match(lines[index]):
            index += 1
            continue
        first, names, origin = index, 0, False
        block: list[str] = []
        while index < len(lines) and (
            _HEADER_LINE.match(lines[index]) or (block and lines[index][:1] in (" ", "\t"))
        ):
            match = _HEADER_LINE.match(lines[index])
            name = match.group(1).lower() if match else ""
            names += name in _MAIL_HEADERS
            origin = origin or name in _ORIGIN_HEADERS
            block.append(lines[index])
            index += 1
        if names >= 3 and origin and not _FROM_MAIL_SYSTEM.search("\n".join(block)):
            yield first, "\n".join(block) + "\n"


# -- splitting the text: report, then the returned message ----------------------------

_RETURNED = re.compile(
    r"^[ \t>]{0,8}(?:-{2,80}[ \t]{0,4})?(?:this is a copy of|below this line is a copy"
    r"|enclosed is a copy|the header of the original|original message|returned message"
    r"|unsent message|original mail|message headers? follow|included is a copy of the message"
    r"|below is a copy of the original|a copy of the original message|the original message headers?"
    r"|original message headers)",
    re.I,
)


def _report_end(lines: list[str]) -> int:
    """Index of the first line of the returned message (or ``len(lines)``).

    It starts at a marker line ("----- Original message -----", "Below this
    line is a copy of the message") or, without one, at the first quoted
    header block.
    """
    for index, line in enumerate(lines):
        if _RETURNED.match(line):
            return index
    for index, _ in _header_blocks(lines):
        return index
    return len(lines)


# -- text formats -----------------------------------------------------------------


@dataclass(frozen=True)
class _TextFormat:
    """A plain-text report: its name and the phrase that opens its failed section."""

    name: str
    opens: re.Pattern[str]


def _fmt(name: str, *phrases: str) -> _TextFormat:
    """A format whose phrases match across line breaks: a space stands for 1-8 blanks.

    Reports wrap their sentences anywhere, so phrases write blanks as plain
    spaces (never inside a character class); ``^`` and ``$`` match at lines.
    """
    pattern = "|".join(phrases).replace(" ", r"\s{1,8}")
    return _TextFormat(name, re.compile(pattern, re.I | re.M))


_FORMATS = (
    _fmt(
        "exim",
        r"following address(?:\(es\)|es)? failed:?",
        r"address(?:es)? to which the message has not yet been delivered (?:is|are):",
    ),
    _fmt("qmail", r"wasn't able to deliver your message to the following addresses\.?"),
    _fmt("yahoo-text", r"unable to deliver your message to the following address(?:es)?\.?"),
    _fmt(
        "gmail-text",
        r"delivery to the following recipients? (?:failed permanently|has been delayed):?",
        r"\*\* (?:address not found|message not delivered|message blocked) \*\*",
    ),
    _fmt(
        "sendmail-text",
        r"-{3,80}\s{0,4}the following addresses? had (?:[a-z]{1,12} ){0,2}(?:errors|problems)",
    ),
    _fmt(
        "exchange-text",
        r"delivery has failed to these recipients or groups:",
        r"did not reach the following recipient\(s\):",
        r"the following recipient\(s\) (?:cannot|could not) be reached:",
        r"your message to (?=[^\n]{1,200}couldn't be delivered)",
    ),
    _fmt(
        "postfix-text",
        r"^\s{0,40}the (?:mail system|postfix program)\s{0,8}$",
        r"could not be delivered to one or more (?:recipients|destinations)\.",
    ),
    _fmt("dragonfly", r"there was an error delivering your mail to"),
    _fmt("notes-text", r"-{3,80}\s{0,4}failure reasons"),
    _fmt("domino-text", r"was not delivered to:"),
    _fmt(
        "generic-text",
        r"(?:to|for) the following (?:list of )?(?:recipients?|address(?:\(es\)|es)?)",
        r"following recipients? (?:was|were|did|returned)",
    ),
)

#: A line that names a recipient first: "addr", "<addr>:", ">>> addr", "Label: addr".
_HEAD_ADDR = re.compile(
    rf"^[ \t>*\-\"'(<\[]{{0,12}}(?:[^:<>@\n]{{1,60}}:[ \t]{{0,12}}[<\"]?)?({_ADDR})"
)
#: Phrases that name a recipient inside a line.
_INLINE_ADDR = re.compile(
    r"(?:rcpt to:|address:|recipient:|rejected recipient|undeliverable to"
    r"|deliver(?:ed|ing)?(?: (?:your )?(?:message|mail))? to:?)"
    rf"[ \t]{{0,4}}<?({_ADDR})"
    rf"|[45]\d\d[ -](?:[45]\.\d\.\d{{1,3}}[ \t]{{1,3}})?<({_ADDR})>"
    rf"|<({_ADDR})>\.\.\.",
    re.I,
)
#: Labels whose address is the sender or a bystander, never a failed recipient.
#: Contact lines ("System Contact: postmaster@...", "Administrator: ...") name whom to
#: ask about the failure.
_NOT_RECIPIENT = re.compile(
    r"^[ \t>*\-\"'(<\[]{0,12}(?:from|sender|mail from|reply-to|return-path|envelope-from"
    r"|original sender|sent by|cc|by|message-id|in-reply-to|references"
    r"|(?:[a-z]{1,20}[ \t]){0,2}(?:contact|administrator|admin|postmaster|support|helpdesk"
    r"|help desk|abuse))[ \t]{0,4}:",
    re.I,
)
_DELAYED = re.compile(
    r"has been delayed|not yet been delivered|delivery attempts will continue|will be retried"
    r"|warning message only|delay reason|delivery delayed|will continue (?:to try|trying)",
    re.I,
)
_FINAL = re.compile(r"permanent|given up|giving up|failed permanently", re.I)


@dataclass
class _Block:
    """Lines the report writes about one recipient."""

    address: str
    lines: list[str] = field(default_factory=list)


def _head_address(line: str) -> str:
    """The address a line names first, when the line is about a recipient."""
    if "@" not in line or _NOT_RECIPIENT.match(line):
        return ""
    match = _HEAD_ADDR.match(line)
    if match:
        return _address(match.group(1))
    match = _INLINE_ADDR.search(line)
    if match:
        return _address(next(g for g in match.groups() if g))
    return ""


def _inline_addresses(line: str) -> Iterator[str]:
    """Every address mentioned in a line (used to follow a transcript)."""
    if "@" in line:
        for match in _ADDR_RE.finditer(line):
            yield match.group(0).strip(".").lower()


def _blocks(lines: list[str], excluded: frozenset[str]) -> list[_Block]:
    """Group lines by the recipient they are about.

    A line naming a new recipient opens its block; a later line mentioning a
    known one (a transcript's ``RCPT To:<addr>``) switches back to it.
    """
    blocks: dict[str, _Block] = {}
    current: _Block | None = None
    for line in lines:
        head = _head_address(line)
        if head and head not in excluded and head not in blocks:
            if len(blocks) >= MAX_RECIPIENTS:
                break
            blocks[head] = _Block(head)
        target = head if head in blocks else ""
        if not target:
            target = next((a for a in _inline_addresses(line) if a in blocks), "")
        if target:
            current = blocks[target]
        if current is not None:
            current.lines.append(line)
    return list(blocks.values())


def _server_answer(lines: list[str]) -> str:
    """The server's answer in ``lines``, one line: from its reply code on ('' if none).

    A line with only an enhanced code (qmail's ``(#5.1.1)``) is taken whole.
    The answer goes on over wrapped lines and the lines of a multi-line reply
    ("550-5.7.26 ..."), which lose their repeated code, and stops at the next
    reply (a transcript's following command or another recipient's answer).
    """
    for index, line in enumerate(lines):
        reply = _REPLY.search(line)
        if reply is None and not _FAILURE_STATUS.search(line):
            continue
        code = reply.group(1) if reply else ""
        parts = [line[reply.start() :] if reply else line.strip()]
        for more in lines[index + 1 : index + 6]:
            text = more.strip()
            starts = _STARTS_REPLY.match(text)
            if not text or (starts and starts.group(1) != code):
                break
            parts.append(_CONTINUED.sub("", text))
        return _one_line(" ".join(parts))
    return ""


def _words(lines: list[str], address: str) -> str:
    """A report's own words about a recipient, when no server answer is quoted."""
    words = [ln for ln in lines if ln.strip(_FRAME).lower() not in ("", address)]
    return _one_line(_PUNCT.sub("", " ".join(words[:4])))


_STARTS_REPLY = re.compile(r"^(?:[<>]{3} ?)?(?:([245]\d\d)[ -]|[<>]{3})")
_CONTINUED = re.compile(r"^[245]\d\d[ -](?:[245]\.\d\.\d{1,3}[ \t]{1,3})?")
_FRAME = " \t<>:\"'()[]*.,;-"
_PUNCT = re.compile(r"^[\s<>:\"'()\[\]*.,;-]{1,20}")


@dataclass(frozen=True)
class _TextRead:
    """What a text reader found: recipients, the format's name, and the report's reason.

    ``reason`` (its address empty) is the report's account taken as a whole,
    for recipients named elsewhere (X-Failed-Recipients) and blocks that say
    nothing of their own.
    """

    recipients: tuple[FailedRecipient, ...]
    format: str
    reason: FailedRecipient


def _read_text(lines: list[str], excluded: frozenset[str], bouncy: bool) -> _TextRead:
    """Read a plain-text report with the first format whose section opener appears.

    Recipients are looked for in the failed section the opener starts, or, if
    it names nobody (some reports list addresses above the phrase), in the
    whole report. Without a known opener, any recipient-naming line is taken,
    but only when the text (or, for ``bouncy``, the subject or sender) speaks
    of a failure: a text reader must not turn every address into a bounce.
    """
    report = "\n".join(lines)
    reason = _report_reason(report, lines)
    anywhere: tuple[FailedRecipient, ...] | None = None  # read once, only if needed
    for fmt in _FORMATS:
        opened = fmt.opens.search(report)
        if opened is None:
            continue
        found = _recipients(_section(report, lines, opened.end()), reason, excluded)
        if not found:
            anywhere = _recipients(lines, reason, excluded) if anywhere is None else anywhere
            found = anywhere
        if found:
            return _TextRead(found, fmt.name, reason)
    if bouncy or _FAILURE_WORDS.search(report):
        found = _recipients(lines, reason, excluded) if anywhere is None else anywhere
        if found:
            return _TextRead(found, "generic-text", reason)
    return _TextRead((), "", reason)


def _section(report: str, lines: list[str], start: int) -> list[str]:
    """The lines of a failed section opening at ``start`` (at most :data:`MAX_SECTION`).

    The rest of the opener's own line counts only when it names someone
    ("... delivering your mail to <addr>.").
    """
    first = report.count("\n", 0, start)
    end = report.find("\n", start)
    rest = report[start : len(report) if end == -1 else end]
    following = lines[first + 1 : first + 1 + MAX_SECTION]
    return [rest, *following] if "@" in rest else following


def _report_reason(report: str, lines: list[str]) -> FailedRecipient:
    """The report's status, action and diagnostic, read from all of its text."""
    action = "delayed" if _DELAYED.search(report) and not _FINAL.search(report) else "failed"
    status = _status_from(report, "4" if action == "delayed" else "5")
    return FailedRecipient("", status, action, _server_answer(lines))


_FAILURE_WORDS = re.compile(
    r"undeliver|could not be delivered|couldn't be delivered|not be delivered|delivery failed"
    r"|failed to deliver|unable to deliver|user unknown|unknown user|no such user"
    r"|permanent (?:error|failure)|delivery to the following|returned mail|mailbox (?:is )?full"
    r"|error (?:sending|delivering)|delivery (?:status )?notification|failure notice"
    r"|mail (?:system )?error|not delivered|delivery failure|送信に失敗|送信できません",
    re.I,
)


def _recipients(
    lines: list[str], reason: FailedRecipient, excluded: frozenset[str]
) -> tuple[FailedRecipient, ...]:
    """Recipients of a section, their status from their own lines or else the report's."""
    klass = "4" if reason.action == "delayed" else "5"
    out = []
    for block in _blocks(lines, excluded):
        answer = _server_answer(block.lines)
        status = (
            (_status_from(answer, klass) if answer else "")
            or _status_from("\n".join(block.lines), klass)
            or reason.status
        )
        diagnostic = (
            answer
            or reason.diagnostic
            or _words(block.lines, block.address)
            or _words(lines, block.address)
        )
        out.append(FailedRecipient(block.address, status, reason.action, diagnostic))
    return tuple(out)


# -- DSN fields -------------------------------------------------------------------

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,40})[ \t]{0,8}:[ \t]{0,8}(.*)$")
#: Original-Recipient first: it is the address the sender wrote to (Echo's outbox row),
#: where Final-Recipient may be what an alias or forward turned it into.
_RECIPIENT_FIELDS = ("original-recipient", "final-recipient", "x-actual-recipient")
_SPLITTING_FIELDS = frozenset({"original-recipient", "final-recipient", "action", "status"})


def _dsn_fields(text: str) -> list[dict[str, str]]:
    """Field groups of a delivery-status report: one dict per block.

    Continuation lines are unfolded; a blank line, or a second Final-Recipient
    (Action, Status) in one block, starts the next group, since some MTAs run
    every recipient's fields together.
    """
    groups: list[dict[str, str]] = [{}]
    last = ""
    for line in _lines(text):
        if not line.strip():
            groups.append({})
            last = ""
            continue
        if line[:1] in (" ", "\t") and last:
            groups[-1][last] = f"{groups[-1][last]} {line.strip()}"
            continue
        match = _FIELD.match(line)
        if match is None:
            last = ""
            continue
        name, value = match.group(1).lower(), match.group(2).strip()
        if name in _SPLITTING_FIELDS and name in groups[-1]:
            groups.append({})
        groups[-1].setdefault(name, value)
        last = name
    return [g for g in groups if any(k in g for k in _RECIPIENT_FIELDS)]


def _typed_value(value: str) -> str:
    """``smtp; 550 ...`` -> ``550 ...``: the value without its RFC 3464 type."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and len(kind) <= 20 and " " not in kind.strip() else value.strip()


def _dsn_recipient(group: dict[str, str]) -> FailedRecipient | None:
    """One per-recipient block as a :class:`FailedRecipient` (None without an address)."""
    address = ""
    for name in _RECIPIENT_FIELDS:
        address = _address(_typed_value(group.get(name, "")))
        if address:
            break
    if not address:
        return None
    diagnostic = _one_line(_typed_value(group.get("diagnostic-code", "")))
    action = group.get("action", "").strip().lower().split(" ", 1)[0].strip(";.")
    action, implied = _ACTION_ALIASES.get(action, (action, ""))
    status = _dsn_status(group.get("status", ""), diagnostic, action) or implied
    if action not in _ACTIONS:
        action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")
    return FailedRecipient(address, status, action, diagnostic)


#: Non-standard Action values seen in the wild: the action meant, and its implied status.
_ACTION_ALIASES = {
    "expired": ("failed", "4.4.7"),
    "failure": ("failed", ""),
    "delay": ("delayed", ""),
    "success": ("delivered", ""),
}


def _dsn_status(field_value: str, diagnostic: str, action: str) -> str:
    """The status for one recipient: the remote server's own code, else the Status field.

    The Status field is the reporting MTA's summary (often a vague 5.0.0, or
    4.4.7 "expired" over the real cause); the server's answer in the
    Diagnostic-Code says what it objected to. Success reports keep their field.
    """
    status = _enhanced(field_value)
    remote = _remote_status(diagnostic) if action != "delivered" else ""
    if remote:
        return remote
    if status:
        return status
    klass = {"failed": "5", "delayed": "4"}.get(action, "")
    return _status_from(diagnostic, klass) if diagnostic or klass else ""


def _read_dsn(text: str) -> tuple[FailedRecipient, ...]:
    """Every per-recipient block of a report that names an address, in report order."""
    return tuple(r for r in map(_dsn_recipient, _dsn_fields(text)) if r is not None)


_REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status")
_DSN_IN_TEXT = re.compile(r"^(?:final|original)-recipient[ \t]{0,8}:", re.I | re.M)


def _report_parts(msg: ParsedMessage) -> Iterator[AttachmentPart]:
    for part in msg.attachments:
        if part.content_type in _REPORT_TYPES:
            yield part


# -- Amazon SES notifications -----------------------------------------------------

#: Sendmail breaks lines longer than 990 characters with "!" + newline + space.
_SENDMAIL_BREAK = "!\n "


def _ses_notification(text: str) -> dict[str, object] | None:
    """The JSON object of an SES (or SNS-wrapped SES) notification, or None."""
    text = text[:MAX_TEXT]
    start = text.find("{")
    if start == -1 or ("notificationType" not in text and "eventType" not in text):
        return None
    decoder = json.JSONDecoder(strict=False)
    try:
        data, _ = decoder.raw_decode(text[start:].replace(_SENDMAIL_BREAK, ""))
        if isinstance(data, dict) and isinstance(data.get("Message"), str):
            data = decoder.decode(data["Message"])
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _ses_recipients(data: dict[str, object]) -> tuple[FailedRecipient, ...]:
    """Bounced (or, for a delivery notification, delivered) recipients of SES JSON."""
    kind = str(data.get("notificationType") or data.get("eventType") or "").lower()
    section = data.get(kind)
    if not isinstance(section, dict):
        return ()
    if kind == "bounce":
        found = [_ses_bounced(item) for item in _dicts(section.get("bouncedRecipients"))]
        return tuple(r for r in found if r.address)
    if kind == "delivery":
        answer = _one_line(str(section.get("smtpResponse", "")))
        status = _enhanced(answer) or "2.0.0"
        listed = section.get("recipients")
        addresses = [_address(str(a)) for a in listed] if isinstance(listed, list) else []
        return tuple(FailedRecipient(a, status, "delivered", answer) for a in addresses if a)
    return ()


def _dicts(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)][:MAX_RECIPIENTS]


def _ses_bounced(item: dict[str, object]) -> FailedRecipient:
    """One ``bouncedRecipients`` entry; SES gives the DSN fields under JSON names."""
    diagnostic = _one_line(_typed_value(str(item.get("diagnosticCode", ""))))
    action = str(item.get("action", "failed")).lower()
    action = action if action in _ACTIONS else "failed"
    status = _enhanced(str(item.get("status", ""))) or _status_from(diagnostic, "5")
    return FailedRecipient(_address(str(item.get("emailAddress", ""))), status, action, diagnostic)


def _ses_original(data: dict[str, object]) -> _Original | None:
    """The sent message as SES describes it (its ``commonHeaders``)."""
    mail = data.get("mail")
    common = mail.get("commonHeaders") if isinstance(mail, dict) else None
    if not isinstance(common, dict):
        return None
    to = [str(a) for key in ("to", "cc") for a in _strings(common.get(key))]
    found = _ID.search(str(common.get("messageId", "")))
    original = _Original(found.group(1) if found else "", _address_list(to))
    return original if original.message_id or original.to else None


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# -- putting it together ------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """Recipients found by one reader, its name, and the original it saw (if any)."""

    recipients: tuple[FailedRecipient, ...]
    format: str
    original: _Original | None = None


def _read(msg: ParsedMessage, own: frozenset[str]) -> BounceReport:
    """Find the returned original first: its sender is who the text readers must skip."""
    if is_complaint(msg):
        return EMPTY  # a complaint names no failed delivery: the mail was delivered
    lines = _unquoted(_lines(msg.text))
    end = _report_end(lines)
    original = _attached_original(msg) or _quoted_original(lines, end) or _Original()
    excluded = own | original.senders | _bounce_parties(msg)
    found = _read_any(msg, lines[:end], excluded)
    original = found.original or original
    recipients = _dedupe(r for r in found.recipients if r.address not in own)
    if not recipients:
        found = _returned_to(msg, lines[:end], original, excluded)
        recipients = found.recipients
    return BounceReport(
        recipients, original.message_id, original.to, found.format if recipients else ""
    )


def _returned_to(
    msg: ParsedMessage, report: list[str], original: _Original, excluded: frozenset[str]
) -> _Read:
    """The one addressee of the returned original, for a mail system's report that names nobody.

    Old Sendmail, carriers' gateways and some DSNs say only "could not be
    delivered" (or give a bare ``421 ... Deferred``) above the returned message:
    when a mail system wrote it, it speaks of a failure, and the original went
    to a single address, that address is the one that failed. With several
    addressees nothing is guessed.
    """
    text = "\n".join(report)
    if len(original.to) != 1 or original.to[0] in excluded or not _from_mail_system(msg):
        return _Read((), "")
    if not (_bouncy(msg) or _FAILURE_WORDS.search(text)):
        return _Read((), "")
    reason = _report_reason(text, report)
    failed = FailedRecipient(original.to[0], reason.status, reason.action, reason.diagnostic)
    return _Read((failed,), "returned-original")


_SYSTEM_NAMES = re.compile(
    r"mailer[- ]?daemon|mail delivery|postmaster|administrator|\bndr\b|mail system", re.I
)


def _from_mail_system(msg: ParsedMessage) -> bool:
    """A null envelope sender, a mailer-daemon From (by address or name), or a DSN part."""
    sender = msg.from_.key if msg.from_ else ""
    return (
        any(v.strip() == "<>" for v in msg.headers.get("return-path", ()))
        or bool(_MAIL_SYSTEM.match(sender))
        or bool(msg.from_ is not None and _SYSTEM_NAMES.search(msg.from_.name))
        or any(p.content_type in _REPORT_TYPES for p in msg.attachments)
    )


_MAIL_SYSTEM = re.compile(
    r"^(?:mailer-daemon|mail-daemon|mailerdaemon|postmaster|post_master)(?:@|$)", re.I
)


def _unquoted(lines: list[str]) -> list[str]:
    """A forwarded bounce quoted with ``>`` read as the bounce itself."""
    written = [line for line in lines if line.strip()]
    quoted = sum(line.startswith(">") for line in written)
    if not written or quoted * 2 < len(written):
        return lines
    return [
        line[2:] if line.startswith("> ") else line[1:] if line[:1] == ">" else line
        for line in lines
    ]


def _bounce_parties(msg: ParsedMessage) -> frozenset[str]:
    """The bounce's own sender and addressees: they are told of a failure, not failed."""
    parties = [msg.from_] if msg.from_ else []
    return frozenset(a.key for a in (*parties, *msg.to, *msg.cc) if "@" in a.key)


def _bouncy(msg: ParsedMessage) -> bool:
    """Subject or sender says "delivery failure" even when the text does not (in English)."""
    sender = msg.from_.key if msg.from_ else ""
    return bool(_MAIL_SYSTEM.match(sender) or _FAILURE_WORDS.search(msg.subject[:MAX_LINE]))


def _quoted_original(lines: list[str], end: int) -> _Original | None:
    """The original's headers quoted in the text, after the report."""
    for _, block in _header_blocks(lines, end):
        original = _original_from_headers(block)
        if original.message_id or original.to:
            return original
    return None


def _read_any(msg: ParsedMessage, report: list[str], excluded: frozenset[str]) -> _Read:
    """The first reader that names someone: DSN part, DSN fields in the text, SES, text."""
    text = _read_plain(msg, report, excluded)
    for part in _report_parts(msg):
        found = _read_dsn(part.data[:MAX_TEXT].decode("utf-8", "replace"))
        if found:
            return _Read(_fill_from_text(found, text.recipients), "dsn")
    report_text = "\n".join(report)
    if _DSN_IN_TEXT.search(report_text):
        found = _read_dsn(report_text)
        if found:
            return _Read(_fill_from_text(found, text.recipients), "dsn-text")
    data = _ses_notification(msg.text)
    if data is not None:
        return _Read(_ses_recipients(data), "amazon-ses", _ses_original(data))
    failed_header = _x_failed(msg)
    if failed_header:
        return _with_header(failed_header, text)
    return _Read(text.recipients, text.format)


def _read_plain(msg: ParsedMessage, report: list[str], excluded: frozenset[str]) -> _TextRead:
    """The text formats, on the body's report or else on attached text parts."""
    bouncy = _bouncy(msg)
    found = _read_text(report, excluded, bouncy)
    for part in msg.attachments:
        if found.recipients:
            break
        if part.content_type.startswith("text/plain"):
            lines = _lines(part.data[:MAX_TEXT].decode("utf-8", "replace"))
            attached = _read_text(lines[: _report_end(lines)], excluded, bouncy)
            found = attached if attached.recipients else found
    return found


def _fill_from_text(
    found: tuple[FailedRecipient, ...], from_text: tuple[FailedRecipient, ...]
) -> tuple[FailedRecipient, ...]:
    """DSN recipients, with a missing status or diagnostic taken from the text's account."""
    by_address = {r.address: r for r in from_text}
    out = []
    for rec in found:
        text = by_address.get(rec.address)
        if text is None or (rec.status and rec.diagnostic):
            out.append(rec)
            continue
        diagnostic = rec.diagnostic or text.diagnostic
        remote = _remote_status(diagnostic)
        vague = not rec.status or rec.status.endswith(".0.0")
        status = (remote or text.status) if vague and rec.action != "delivered" else rec.status
        out.append(FailedRecipient(rec.address, status or rec.status, rec.action, diagnostic))
    return tuple(out)


def _x_failed(msg: ParsedMessage) -> list[str]:
    """Addresses of the X-Failed-Recipients header(s) (Exim, Gmail), in order."""
    found: dict[str, None] = {}
    for value in msg.headers.get("x-failed-recipients", ()):
        for part in value[:MAX_TEXT].split(",", MAX_RECIPIENTS):
            address = _address(part)
            if address and len(found) < MAX_RECIPIENTS:
                found.setdefault(address, None)
    return list(found)


def _with_header(addresses: list[str], text: _TextRead) -> _Read:
    """X-Failed-Recipients adds who failed to what the text says, and why.

    The text's failed section comes first: it is what a person reads, and it
    carries each recipient's reason. A header address the text does not
    name gets the report's reason as a whole.
    """
    listed = {r.address for r in text.recipients}
    reason = text.reason
    extra = [
        FailedRecipient(addr, reason.status, reason.action, reason.diagnostic)
        for addr in addresses
        if addr not in listed
    ]
    return _Read((*text.recipients, *extra), text.format or "x-failed-recipients")


def _dedupe(recipients: Iterable[FailedRecipient]) -> tuple[FailedRecipient, ...]:
    """Once per address, first mention first; later mentions fill what the first lacked."""
    seen: dict[str, FailedRecipient] = {}
    for rec in recipients:
        first = seen.get(rec.address)
        if first is None:
            if len(seen) < MAX_RECIPIENTS:
                seen[rec.address] = rec
            continue
        seen[rec.address] = FailedRecipient(
            first.address,
            first.status or rec.status,
            first.action or rec.action,
            first.diagnostic or rec.diagnostic,
        )
    return tuple(seen.values())
