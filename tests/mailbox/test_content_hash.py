"""Junk and redeliveries: the content hash finds the same message, and only it.

A message without its own Message-ID is stored under an id made from this
hash, so two messages with the same hash are one message to Echo: the
second is dropped as a duplicate and reaches no ticket.
"""

from __future__ import annotations

import random

from echodesk.mailbox.parse import parse_message

HEAD = (
    b"From: Ann <ann@example.com>\r\nTo: desk@example.com\r\nSubject: Printer\r\n"
    b"Date: Tue, 04 Jun 2024 10:00:00 +0200\r\n"
)


def _junk(size: int, seed: int) -> bytes:
    """Random bytes in SMTP-sized lines, none of them a header line."""
    data = bytes(b if b not in (10, 13) else 32 for b in random.Random(seed).randbytes(size))
    return b"\xfe" + b"\r\n".join(data[i : i + 76] for i in range(0, len(data), 76)) + b"\r\n"


def test_header_less_messages_are_the_same_only_when_their_bytes_are() -> None:
    empty = parse_message(b"")
    line = parse_message(b"Just a line of text and no headers at all.\r\n")
    junk = parse_message(_junk(200_000, 1))
    other_junk = parse_message(_junk(200_000, 2))
    ids = {m.message_id for m in (empty, line, junk, other_junk)}
    assert len(ids) == 4  # was one id for all four: each looked like a copy of the first
    assert all(m.message_id_generated for m in (empty, line, junk, other_junk))
    assert parse_message(_junk(200_000, 1)).message_id == junk.message_id


def test_a_message_with_no_originator_field_is_hashed_whole() -> None:
    first = parse_message(b"X-Junk: 1\r\nX-More: a\r\n")
    second = parse_message(b"X-Junk: 2\r\nX-More: b\r\n")
    assert first.content_hash != second.content_hash


def test_text_the_parser_took_for_body_before_the_blank_line_counts() -> None:
    # No blank line after the headers: the body starts at the first line that is no header.
    first = parse_message(HEAD + b"Please call me back.\r\n\r\nAnn\r\n")
    second = parse_message(HEAD + b"Never mind, it works.\r\n\r\nAnn\r\n")
    assert first.message_id != second.message_id


def test_who_what_and_when_tell_messages_apart() -> None:
    body = b"\r\nSame words.\r\n"
    base = parse_message(HEAD + body)
    for old, new in (
        (b"ann@example.com", b"bob@example.com"),
        (b"Subject: Printer", b"Subject: Scanner"),
        (b"10:00:00", b"10:00:01"),
    ):
        other = parse_message(HEAD.replace(old, new) + body)
        assert other.message_id != base.message_id, new


def test_a_redelivery_with_trace_headers_on_top_is_the_same_message() -> None:
    trace = b"Received: from mx2.example.net by mx.example.com; Tue, 4 Jun 2024 10:01:00\r\n"
    trace += b"Delivered-To: desk@example.com\r\n"
    for raw in (HEAD + b"\r\nHello.\r\n", HEAD, HEAD + b"Hello without a blank line.\r\n"):
        first, again = parse_message(raw), parse_message(trace + raw)
        assert again.content_hash == first.content_hash, raw
        assert again.message_id == first.message_id
    lf = parse_message((HEAD + b"\r\nHello.   \r\n").replace(b"\r\n", b"\n"))
    assert lf.content_hash == parse_message(HEAD + b"\r\nHello.\r\n").content_hash


def test_nul_characters_are_dropped_so_the_message_can_be_stored() -> None:
    # PostgreSQL refuses text holding NUL: such mail failed on every attempt.
    msg = parse_message(HEAD.replace(b"Printer", b"Prin\x00ter") + b"\r\nHel\x00lo.\r\n")
    assert (msg.subject, msg.text.strip()) == ("Printer", "Hello.")
    assert "NUL characters removed" in msg.defects
    junk = parse_message(_junk(2_000, 3) + b"\x00\x00")
    assert "\x00" not in junk.text
