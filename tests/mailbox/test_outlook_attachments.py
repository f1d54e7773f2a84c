"""Outlook's winmail.dat (TNEF) and attached .msg files, opened up for people without Outlook.

The samples are built by tests/support/outlook.py; a corpus bounce that carries
a real winmail.dat (from Amazon WorkMail) is read too when the corpus is there.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from echodesk.mailbox.forward import recover_forward
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.outlook import rtf_to_text
from echodesk.mailbox.parse import parse_message
from tests.support.outlook import MsgFile, TnefFile, make_msg, make_tnef, uncompressed_rtf

PDF = b"%PDF-1.4\n% the quote\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17
CORPUS = Path("/work/shared/corpus/sisimai-set-of-emails/maildir/bsd")


def _mail(body: str, *files: tuple[bytes, str, str]) -> bytes:
    """A customer's mail with ``body`` and (data, MIME type, file name) attachments."""
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Quote attached"
    msg["Message-ID"] = "<outlook-1@customer.test>"
    msg.set_content(body)
    for data, ctype, name in files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _names(msg: ParsedMessage) -> list[str]:
    return [part.filename for part in msg.attachments]


def test_winmail_dat_becomes_the_files_the_sender_attached() -> None:
    tnef = make_tnef(
        [
            TnefFile("Quote 2026-11 (final).pdf", PDF, "application/pdf"),
            TnefFile("Preisliste Übersicht.csv", b"Artikel;Preis\n"),
        ]
    )
    msg = parse_message(
        _mail("Please see the quote.\n", (tnef, "application/ms-tnef", "winmail.dat"))
    )
    assert _names(msg) == ["Quote 2026-11 (final).pdf", "Preisliste Übersicht.csv"]
    pdf, sheet = msg.attachments
    assert pdf.data == PDF and pdf.content_type == "application/pdf"
    assert sheet.data == b"Artikel;Preis\n"
    assert sheet.content_type == "text/csv"  # Outlook did not say: guessed from the name
    assert msg.text.strip() == "Please see the quote."  # the MIME body is kept as it was
    assert not msg.defects


def test_the_body_inside_winmail_dat_is_used_when_the_mail_has_none() -> None:
    tnef = make_tnef(
        [TnefFile("image001.png", PNG, "image/png", content_id="image001.png@01DA0B1C")],
        html='<p>Hello, see <img src="cid:image001.png@01DA0B1C"> the error.</p>',
    )
    msg = parse_message(_mail("", (tnef, "application/vnd.ms-tnef", "winmail.dat")))
    assert "the error" in msg.html and "cid:image001.png@01DA0B1C" in msg.html
    assert "Hello, see" in msg.text  # the text the agent reads comes from that HTML
    (image,) = msg.attachments
    assert (image.filename, image.content_id, image.inline) == (
        "image001.png",
        "image001.png@01DA0B1C",
        True,
    )


def test_an_rtf_only_body_is_read_as_text() -> None:
    rtf = uncompressed_rtf(
        r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red0\green0\blue0;}"
        r"{\*\generator Riched20;}\f0 Dear support,\par the invoice for caf\'e9 items is "
        r"{\b wrong}: 12\u8364? instead of 10\u8364?.\par\par Regards\par}"
    )
    tnef = make_tnef([TnefFile("invoice.pdf", PDF)], rtf=rtf)
    msg = parse_message(_mail("", (tnef, "application/ms-tnef", "winmail.dat")))
    assert msg.text.split("\n") == [
        "Dear support,",
        "the invoice for café items is wrong: 12€ instead of 10€.",
        "",
        "Regards",
    ]
    assert _names(msg) == ["invoice.pdf"]


def test_outlook_html_wrapped_in_rtf_is_shown_as_html() -> None:
    rtf = uncompressed_rtf(
        r"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}"
        r"{\*\htmltag19 <html>}{\*\htmltag50 <body>}{\*\htmltag64 <p>}"
        r"\htmlrtf {\htmlrtf0 The printer shows error 42\htmlrtf }\htmlrtf0 "
        r"{\*\htmltag72 </p>}{\*\htmltag58 </body>}{\*\htmltag27 </html>}}"
    )
    tnef = make_tnef([], rtf=rtf)
    msg = parse_message(_mail("", (tnef, "application/ms-tnef", "winmail.dat")))
    assert "<p>The printer shows error 42</p>" in msg.html
    assert msg.text.strip() == "The printer shows error 42"
    assert msg.attachments == ()  # nothing else was in it: the winmail.dat has no use left


@pytest.mark.parametrize(
    "blob",
    [
        b"\x78\x9f\x3e\x22\x01\x00" + b"\xff" * 40,  # the signature, then garbage
        b"\x78\x9f\x3e\x22",  # the signature alone
        make_tnef([TnefFile("a.pdf", PDF)])[:-30],  # cut short in the middle of the file
    ],
)
def test_a_damaged_winmail_dat_never_fails_the_message(blob: bytes) -> None:
    msg = parse_message(_mail("Hello.\n", (blob, "application/ms-tnef", "winmail.dat")))
    assert msg.text.strip() == "Hello."
    assert msg.subject == "Quote attached"
    names = _names(msg)
    # Whatever could not be unpacked is kept as it came, so nothing is lost.
    assert "winmail.dat" in names or names == ["a.pdf"]
    if "winmail.dat" in names:
        kept = msg.attachments[names.index("winmail.dat")]
        assert kept.data == blob


def test_a_winmail_dat_without_files_or_body_is_kept() -> None:
    blob = make_tnef([])
    msg = parse_message(_mail("Hello.\n", (blob, "application/ms-tnef", "winmail.dat")))
    assert _names(msg) == ["winmail.dat"]


def _quarterly() -> bytes:
    return make_msg(
        MsgFile(
            subject="Quarterly numbers are wrong",
            sender_name="Carol Original",
            sender_email="carol@origin.test",
            body="The Q3 totals do not add up.\nSee the sheet.",
            files=[TnefFile("q3.csv", b"region,total\nnorth,12\n", "text/csv")],
        )
    )


def test_an_attached_msg_is_readable_as_a_message() -> None:
    raw = _mail("Forwarding Carol's mail.\n", (_quarterly(), "application/octet-stream", "Q3.msg"))
    msg = parse_message(raw)
    assert _names(msg) == ["Q3.msg", "Quarterly numbers are wrong.eml"]
    original, converted = msg.attachments
    assert original.data == _quarterly()  # the original stays downloadable
    assert converted.content_type == "message/rfc822"
    inner = parse_message(converted.data)
    assert inner.subject == "Quarterly numbers are wrong"
    assert inner.from_ is not None and inner.from_.email == "carol@origin.test"
    assert inner.from_.name == "Carol Original"
    assert inner.text.strip() == "The Q3 totals do not add up.\nSee the sheet."
    assert [(a.filename, a.data) for a in inner.attachments] == [
        ("q3.csv", b"region,total\nnorth,12\n")
    ]


def test_an_agent_can_forward_an_outlook_msg_to_open_a_ticket_for_its_sender() -> None:
    msg = parse_message(_mail("#forward\n", (_quarterly(), "application/vnd.ms-outlook", "x.msg")))
    found = recover_forward(msg, msg.text)
    assert found is not None
    assert found.sender.email == "carol@origin.test"
    assert found.subject == "Quarterly numbers are wrong"
    assert "do not add up" in found.text


def test_a_msg_inside_a_winmail_dat_is_converted_too() -> None:
    tnef = make_tnef([TnefFile("Carol.msg", _quarterly())])
    msg = parse_message(_mail("See attached.\n", (tnef, "application/ms-tnef", "winmail.dat")))
    assert _names(msg) == ["Carol.msg", "Quarterly numbers are wrong.eml"]


@pytest.mark.parametrize(
    ("blob", "name"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "broken.msg"),  # OLE magic, junk
        (_quarterly()[:1500], "cut.msg"),  # cut short
        (b"not an outlook file at all", "notes.msg"),  # only the name says .msg
    ],
)
def test_a_damaged_msg_never_fails_the_message(blob: bytes, name: str) -> None:
    msg = parse_message(_mail("Hello.\n", (blob, "application/vnd.ms-outlook", name)))
    assert msg.text.strip() == "Hello."
    assert _names(msg) == [name]
    assert msg.attachments[0].data == blob


def test_a_word_document_is_not_taken_for_a_msg() -> None:
    doc = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600  # also a compound file
    msg = parse_message(_mail("Hello.\n", (doc, "application/msword", "contract.doc")))
    assert _names(msg) == ["contract.doc"]
    assert not msg.defects


def test_plain_rtf_keeps_only_the_visible_text() -> None:
    rtf = (
        rb"{\rtf1\ansi{\fonttbl{\f0 Times;}}{\info{\author Someone}}"
        rb"{\*\themedata 0123abcd}Line one\line Line\tab two \{braces\}\par}"
    )
    assert rtf_to_text(rtf) == "Line one\nLine\ttwo {braces}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared mail corpus is not on this machine")
def test_real_winmail_dat_from_exchange_bounces_is_read_without_loss() -> None:
    """Amazon WorkMail bounces carry a winmail.dat that holds only properties: kept whole."""
    paths = sorted(CORPUS.glob("lhost-amazonworkmail-0*.eml"))
    assert paths
    for path in paths:
        msg = parse_message(path.read_bytes())
        assert "winmail.dat" in _names(msg), path.name
        assert not any("TNEF" in d for d in msg.defects), (path.name, msg.defects)
