"""Outlook's own containers opened up: ``winmail.dat`` (TNEF) and attached ``.msg`` files.

Outlook and Exchange send rich mail as a ``winmail.dat`` (MIME type
``application/ms-tnef``) that only Outlook can open: the sender's real files,
and often the body itself, are inside it. People also attach whole mails as
Outlook ``.msg`` files (an OLE compound file). To anyone without Outlook both
are opaque blobs. Here ``tnefparse`` unpacks the first into its files and body,
and ``extract-msg`` turns the second into an ordinary RFC 822 message, which
Echo then keeps like any forwarded mail.

Both readers are third-party code meeting hostile bytes, so every call is
guarded: bad input gives ``None`` and the caller keeps the original blob. The
libraries are imported on first use; most mail never needs them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.policy import SMTP
from typing import Any

from echodesk.mailbox.message import AttachmentPart

TNEF_MAGIC = b"\x78\x9f\x3e\x22"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MSG_TYPES = frozenset({"application/vnd.ms-outlook", "application/x-msg", "application/msoutlook"})
#: Bytes of RTF handed to the (grammar-based, slow) de-encapsulator; larger is read plainly.
_MAX_RTF_PARSE = 2_000_000


@dataclass(frozen=True)
class Unpacked:
    """What a winmail.dat held: the sender's files and the body Outlook wrote.

    ``complete`` is false when some part could not be taken out (an embedded
    Outlook item, a file without data): the caller then keeps the original
    winmail.dat beside the files, so nothing is lost.
    """

    files: tuple[AttachmentPart, ...]
    text: str = ""
    html: str = ""
    complete: bool = True


def is_tnef(data: bytes) -> bool:
    """TNEF is recognised by its signature, whatever name or type the part was given."""
    return data.startswith(TNEF_MAGIC)


def is_msg(filename: str, content_type: str, data: bytes) -> bool:
    """An Outlook .msg: a compound file that is named or typed as one.

    Word and Excel files are compound files too, so the name or type must say .msg.
    """
    named = filename.lower().endswith(".msg") or content_type in _MSG_TYPES
    return named and data.startswith(OLE_MAGIC)


def unpack_tnef(data: bytes) -> Unpacked | None:
    """The files and body inside a winmail.dat, or None if it cannot be read."""
    try:
        from tnefparse import TNEF

        tnef = TNEF(data, do_checksum=False)
        files, complete = _tnef_files(tnef)
        text, html = _tnef_body(tnef)
    # Third-party decoding of hostile bytes: any failure means "keep the blob as it came".
    except Exception:  # noqa: BLE001
        return None
    return Unpacked(files=tuple(files), text=text, html=html, complete=complete)


def _tnef_files(tnef: Any) -> tuple[list[AttachmentPart], bool]:
    """Each attached file with its long name, MIME type and Content-ID when Outlook kept them."""
    files: list[AttachmentPart] = []
    complete = True
    for item in tnef.attachments:
        data = item.data
        if hasattr(item, "embed") or not isinstance(data, bytes) or not data:
            complete = False  # an embedded Outlook item or an empty entry: keep the original
            continue
        props = {attr.name: attr.data for attr in item.mapi_attrs}
        cid = _text(props.get(0x3712)).strip().strip("<>")
        files.append(
            AttachmentPart(
                filename=_text(item.long_filename()) or _text(item.name),
                content_type=_mime_type(_text(props.get(0x370E))),
                data=data,
                content_id=cid,
                inline=bool(cid),
            )
        )
    return files, complete


def _tnef_body(tnef: Any) -> tuple[str, str]:
    """(text, HTML) of the message inside; its RTF (Outlook's usual body) when that is all."""
    html = _text(tnef.htmlbody)
    text = _text(tnef.body)
    if html or text:
        return text.replace("\r\n", "\n"), html
    rtf = tnef.rtfbody
    if isinstance(rtf, bytes) and rtf.lstrip().startswith(b"{\\rtf"):
        return rtf_body(rtf)
    return "", ""


def rtf_body(rtf: bytes) -> tuple[str, str]:
    """(text, HTML) from an RTF body.

    Outlook usually wraps the HTML or text it was given in RTF ("encapsulated"):
    RTFDE recovers that exactly. Genuine RTF (typed in Outlook's RTF editor) is
    read as plain text.
    """
    if len(rtf) <= _MAX_RTF_PARSE:
        try:
            from RTFDE.deencapsulate import DeEncapsulator

            found = DeEncapsulator(rtf)
            found.deencapsulate()
            if found.content_type == "html":
                return "", _text(found.html)
            return _text(found.text).replace("\r\n", "\n"), ""
        # Not encapsulated, or malformed: fall back to reading the text plainly.
        except Exception:  # noqa: BLE001
            pass
    return rtf_to_text(rtf), ""


def _text(value: object) -> str:
    """A TNEF value as text: tnefparse gives str, bytes or a list of either."""
    if isinstance(value, list):
        value = value[0] if value else ""
    text = ""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("cp1252", "replace")
    elif isinstance(value, str):
        text = value
    return text.replace("\x00", "").strip()


_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def _mime_type(value: str) -> str:
    """The type Outlook recorded, if it is one ('' lets the caller guess from the name)."""
    value = value.lower().partition(";")[0].strip()
    return value if _MIME_TYPE.match(value) else ""


# -- .msg -------------------------------------------------------------------------


def msg_as_eml(data: bytes) -> tuple[str, bytes] | None:
    """An Outlook .msg as (subject, RFC 822 bytes), its own attachments inside; None if unreadable.

    Contacts, appointments and other non-mail items have no message form and
    give None, as do damaged files.
    """
    try:
        import extract_msg

        item = extract_msg.openMsg(data, strict=True)
        try:
            as_email = getattr(item, "asEmailMessage", None)
            if as_email is None:
                return None
            subject = str(getattr(item, "subject", "") or "")
            eml = as_email().as_bytes(policy=SMTP.clone(max_line_length=998))
        finally:
            item.close()
    # Third-party decoding of hostile bytes: any failure means "keep the .msg as it came".
    except Exception:  # noqa: BLE001
        return None
    return subject.replace("\x00", "").strip(), eml


# -- plain RTF ------------------------------------------------------------------

_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|[\r\n]+|([^\\{}\r\n]+)",
    re.S,
)
#: Groups that hold no text of the message: tables of fonts and colours, pictures, metadata.
_SKIPPED = frozenset(
    b"fonttbl colortbl stylesheet info pict object header footer headerl headerr footerl "
    b"footerr themedata colorschememapping latentstyles datastore xmlnstbl listtable "
    b"listoverridetable rsidtbl generator mmathPr pgdsctbl filetbl revtbl userprops".split()
)
_BREAKS = {b"par": "\n", b"line": "\n", b"tab": "\t", b"emdash": "\u2014", b"endash": "\u2013"}


def rtf_to_text(rtf: bytes) -> str:
    """The visible text of an RTF document: groups of fonts, pictures and the like skipped."""
    out: list[str] = []
    stack: list[tuple[bool, int]] = []
    skip, uc, pending, codec = False, 1, 0, "cp1252"
    for match in _RTF_TOKEN.finditer(rtf):
        word, arg, hexbyte, symbol, brace, plain = match.groups()
        if brace == b"{":
            stack.append((skip, uc))
        elif brace == b"}":
            skip, uc = stack.pop() if stack else (False, 1)
        elif word is not None:
            if word in _SKIPPED:
                skip = True
            elif word == b"ansicpg" and arg:
                codec = f"cp{int(arg)}"
            elif word == b"uc" and arg:
                uc = int(arg)
            elif word == b"u" and arg and not skip:
                out.append(chr(int(arg) % 65536))
                pending = uc
            elif word in _BREAKS and not skip:
                out.append(_BREAKS[word])
        elif symbol == b"*":
            skip = True
        elif skip:
            continue
        elif hexbyte is not None or plain is not None:
            chunk = bytes.fromhex(hexbyte.decode()) if hexbyte is not None else bytes(plain)
            if pending:
                dropped = min(pending, len(chunk))
                chunk, pending = chunk[dropped:], pending - dropped
            out.append(_decode(chunk, codec))
        elif symbol in (b"\\", b"{", b"}"):
            out.append(symbol.decode())
        elif symbol == b"~":
            out.append("\u00a0")
    return "".join(out).strip()


def _decode(chunk: bytes, codec: str) -> str:
    try:
        return chunk.decode(codec, "replace")
    except LookupError:
        return chunk.decode("cp1252", "replace")
