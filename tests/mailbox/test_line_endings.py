"""Mail written with classic Mac OS line endings (CR alone) reads like the same mail with LF."""

from __future__ import annotations

from pathlib import Path

import pytest

from echodesk.mailbox.parse import parse_message

MAILDIR = Path("/work/shared/corpus/sisimai-set-of-emails/maildir")

MAIL = (
    b"From: Alice Customer <alice@customer.test>\n"
    b"To: support@desk.test\n"
    b"Subject: Printer on fire\n"
    b"Message-ID: <cr-1@customer.test>\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="b1"\n'
    b"\n"
    b"--b1\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"Hello,\n"
    b"\n"
    b"my printer is on fire.\n"
    b"Second paragraph.\n"
    b"--b1\n"
    b'Content-Type: text/plain; name="log.txt"\n'
    b'Content-Disposition: attachment; filename="log.txt"\n'
    b"\n"
    b"line 1\n"
    b"line 2\n"
    b"--b1--\n"
)


@pytest.mark.parametrize("ending", [b"\r", b"\r\n"])
def test_the_same_mail_with_other_line_endings_reads_the_same(ending: bytes) -> None:
    lf = parse_message(MAIL)
    other = parse_message(MAIL.replace(b"\n", ending))
    assert other.text == lf.text == "Hello,\n\nmy printer is on fire.\nSecond paragraph."
    assert (other.subject, other.from_, other.message_id) == (lf.subject, lf.from_, lf.message_id)
    assert [a.filename for a in other.attachments] == ["log.txt"]
    assert other.attachments[0].data.replace(b"\r\n", b"\n") == b"line 1\nline 2"
    # A redelivery that only changed line endings is recognised as the same mail.
    assert other.content_hash == lf.content_hash
    assert other.size == len(MAIL.replace(b"\n", ending))


def test_a_stray_cr_in_ordinary_mail_is_left_alone() -> None:
    raw = MAIL.replace(b"my printer is on fire.", b"my printer\ris on fire.")
    assert "my printer\nis on fire." in parse_message(raw).text  # read as a line break, not lost


@pytest.mark.skipif(not MAILDIR.is_dir(), reason="the shared mail corpus is not on this machine")
def test_cr_only_copies_in_the_corpus_read_like_their_lf_originals() -> None:
    pairs = [
        (MAILDIR / "bsd" / p.name, p)
        for p in sorted((MAILDIR / "mac").glob("*.eml"))
        if (MAILDIR / "bsd" / p.name).is_file()
    ]
    assert len(pairs) > 40
    differ = []
    for lf_path, cr_path in pairs:
        lf, cr = parse_message(lf_path.read_bytes()), parse_message(cr_path.read_bytes())
        if (cr.text, cr.html, [a.filename for a in cr.attachments]) != (
            lf.text,
            lf.html,
            [a.filename for a in lf.attachments],
        ):
            differ.append(cr_path.name)
        same_bytes = cr_path.read_bytes().replace(b"\r", b"\n") == lf_path.read_bytes()
        if same_bytes and (cr.content_hash, cr.message_id) != (lf.content_hash, lf.message_id):
            differ.append(f"{cr_path.name} (hash)")
    assert not differ, differ
