"""Outlook's containers built from scratch: TNEF (winmail.dat) and .msg files.

Made byte by byte from the published layouts (MS-OXTNEF, MS-OXMSG) so the
tests need no file from Outlook; the .msg goes through extract-msg's own
compound-file writer.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from extract_msg.ole_writer import OleWriter

# -- TNEF -----------------------------------------------------------------------

_SIGNATURE = 0x223E9F78
_MESSAGE, _ATTACHMENT = 1, 2
_DWORD, _STRING, _BYTE = 0x0008, 0x0007, 0x0006

PT_LONG, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x001E, 0x001F, 0x0102
PR_BODY, PR_BODY_HTML, PR_RTF_COMPRESSED = 0x1000, 0x1013, 0x1009
PR_ATTACH_LONG_FILENAME, PR_ATTACH_MIME_TAG, PR_ATTACH_CONTENT_ID = 0x3707, 0x370E, 0x3712


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def mapi_props(props: list[tuple[int, int, bytes | str | int]]) -> bytes:
    """A TNEF MAPI property block: (type, id, value) each, strings and binaries counted."""
    out = struct.pack("<I", len(props))
    for kind, prop, value in props:
        out += struct.pack("<HH", kind, prop)
        if isinstance(value, int):
            out += struct.pack("<i", value)
            continue
        if isinstance(value, str):
            value = value.encode("utf-16-le" if kind == PT_UNICODE else "cp1252") + (
                b"\0\0" if kind == PT_UNICODE else b"\0"
            )
        out += struct.pack("<II", 1, len(value)) + _padded(value)
    return out


@dataclass
class TnefFile:
    name: str
    data: bytes
    mime_type: str = ""
    content_id: str = ""


def make_tnef(
    files: list[TnefFile],
    *,
    body: str = "",
    html: str = "",
    rtf: bytes = b"",
) -> bytes:
    """A winmail.dat holding ``files`` and, optionally, a plain, HTML or RTF body."""
    out = struct.pack("<IH", _SIGNATURE, 0x1234)
    out += _attribute(_MESSAGE, 0x9006, _DWORD, struct.pack("<I", 0x00010000))
    out += _attribute(_MESSAGE, 0x9007, _BYTE, struct.pack("<II", 1252, 0))
    out += _attribute(_MESSAGE, 0x8008, _STRING, b"IPM.Microsoft Mail.Note\0")
    props: list[tuple[int, int, bytes | str | int]] = []
    if body:
        props.append((PT_UNICODE, PR_BODY, body))
    if html:
        props.append((PT_BINARY, PR_BODY_HTML, html.encode("utf-8")))
    if rtf:
        props.append((PT_BINARY, PR_RTF_COMPRESSED, rtf))
    if props:
        out += _attribute(_MESSAGE, 0x9003, _BYTE, mapi_props(props))
    for item in files:
        out += _attribute(_ATTACHMENT, 0x9002, _BYTE, b"\0" * 14)
        out += _attribute(_ATTACHMENT, 0x8010, _STRING, item.name[:8].encode("cp1252") + b"\0")
        out += _attribute(_ATTACHMENT, 0x800F, _BYTE, item.data)
        attach: list[tuple[int, int, bytes | str | int]] = [
            (PT_UNICODE, PR_ATTACH_LONG_FILENAME, item.name)
        ]
        if item.mime_type:
            attach.append((PT_STRING8, PR_ATTACH_MIME_TAG, item.mime_type))
        if item.content_id:
            attach.append((PT_STRING8, PR_ATTACH_CONTENT_ID, item.content_id))
        out += _attribute(_ATTACHMENT, 0x9005, _BYTE, mapi_props(attach))
    return out


def uncompressed_rtf(text: str) -> bytes:
    """RTF in the 'compressed RTF' container, stored uncompressed (type MELA), as allowed."""
    data = text.encode("cp1252")
    return struct.pack("<IIII", len(data) + 12, len(data), 0x414C454D, 0) + data


# -- .msg -------------------------------------------------------------------------


@dataclass
class MsgFile:
    subject: str
    sender_name: str
    sender_email: str
    body: str
    to: str = "Support <support@desk.test>"
    date: str = "Mon, 02 Nov 2026 09:00:00 +0000"
    message_id: str = "<original@customer.test>"
    html: str = ""
    files: list[TnefFile] = field(default_factory=list)


def _unicode(value: str) -> bytes:
    return value.encode("utf-16-le")  # the stream holds no terminator (MS-OXMSG 2.1.3)


def _props_stream(header: bytes, entries: list[tuple[int, int, bytes | int]]) -> bytes:
    """A ``__properties_version1.0`` stream: fixed values inline, others by size."""
    out = header
    for kind, prop, value in entries:
        out += struct.pack("<II", (prop << 16) | kind, 6)
        if isinstance(value, int):
            out += struct.pack("<iI", value, 0)
        else:  # a string's size counts its terminator
            out += struct.pack("<II", len(value) + (2 if kind == PT_UNICODE else 0), 0)
    return out


def _add_props(
    writer: OleWriter, where: list[str], header: bytes, values: list[tuple[int, int, bytes | int]]
) -> None:
    writer.addEntry([*where, "__properties_version1.0"], _props_stream(header, values))
    for kind, prop, value in values:
        if not isinstance(value, int):
            writer.addEntry([*where, f"__substg1.0_{prop:04X}{kind:04X}"], value)


def make_msg(item: MsgFile) -> bytes:
    """An Outlook .msg (IPM.Note) with the given fields, body and attached files."""
    writer = OleWriter()
    headers = (
        f"From: {item.sender_name} <{item.sender_email}>\r\nTo: {item.to}\r\n"
        f"Subject: {item.subject}\r\nDate: {item.date}\r\nMessage-ID: {item.message_id}\r\n"
    )
    values: list[tuple[int, int, bytes | int]] = [
        (PT_UNICODE, 0x001A, _unicode("IPM.Note")),
        (PT_UNICODE, 0x0037, _unicode(item.subject)),
        (PT_UNICODE, 0x1000, _unicode(item.body)),
        (PT_UNICODE, 0x0C1A, _unicode(item.sender_name)),
        (PT_UNICODE, 0x0C1F, _unicode(item.sender_email)),
        (PT_UNICODE, 0x007D, _unicode(headers)),
        (PT_UNICODE, 0x1035, _unicode(item.message_id)),
        (PT_UNICODE, 0x0E04, _unicode(item.to)),
    ]
    if item.html:
        values.append((PT_BINARY, PR_BODY_HTML, item.html.encode("utf-8")))
    count = len(item.files)
    header = struct.pack("<8sIIII8s", b"", 0, count, 0, count, b"")
    _add_props(writer, [], header, values)
    writer.addEntry(["__nameid_version1.0"], storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(["__nameid_version1.0", f"__substg1.0_{stream}"], b"")
    for index, file in enumerate(item.files):
        where = [f"__attach_version1.0_#{index:08X}"]
        writer.addEntry(where, storage=True)
        attach: list[tuple[int, int, bytes | int]] = [
            (PT_LONG, 0x3705, 1),
            (PT_UNICODE, PR_ATTACH_LONG_FILENAME, _unicode(file.name)),
            (PT_BINARY, 0x3701, file.data),
        ]
        if file.mime_type:
            attach.append((PT_UNICODE, PR_ATTACH_MIME_TAG, _unicode(file.mime_type)))
        _add_props(writer, where, b"\0" * 8, attach)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
