"""Hand-built messages: every decoding rule of the parser, with exact expectations."""

from __future__ import annotations

import base64
import binascii
import random
import time
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from echodesk.mailbox.message import Address, ParsedMessage
from echodesk.mailbox.parse import GENERATED_ID_DOMAIN, parse_message


def mail(headers: str, body: str | bytes = "Body.\n", *, crlf: bool = False) -> bytes:
    """A message from header lines and a body (str bodies are UTF-8)."""
    raw_body = body.encode() if isinstance(body, str) else body
    raw = headers.strip("\n").encode("utf-8", "surrogateescape") + b"\n\n" + raw_body
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def b64word(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def crashed(message: ParsedMessage) -> bool:
    return any(d.startswith("unreadable message (") for d in message.defects)


# --- RFC 2047 subjects ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"),
        ("=?iso-8859-1?q?Caf=E9?= =?iso-8859-1?q?_cr=E8me?=", "Café crème"),
        (
            "=?windows-1252?Q?=93Quoted=94_=80_100_=96_ok?=",
            "\u201cQuoted\u201d \u20ac 100 \u2013 ok",
        ),
        # ISO-8859-1 is read as windows-1252, as senders mean it (0x80 is the euro sign).
        ("=?ISO-8859-1?Q?Preis_=80_5?=", "Preis € 5"),
        (b64word("日本語の件名です", "shift_jis"), "日本語の件名です"),
        (b64word("Привет, мир", "koi8-r"), "Привет, мир"),
        ("=?UTF-8?B?w5xuw69jw7Zkw6kg4pyTIPCfmIA=?=", "Ünïcödé ✓ 😀"),
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        # Plain text around encoded words keeps its spaces.
        ("Re: =?utf-8?q?caf=C3=A9?= menu", "Re: café menu"),
        # Whitespace between adjacent encoded words is dropped (RFC 2047 6.2).
        ("=?utf-8?q?a?= =?utf-8?q?b?=   =?utf-8?q?c?=", "abc"),
        # A multi-byte character split across two encoded words.
        ("=?utf-8?B?w5xu?= =?utf-8?B?w69j?= =?utf-8?Q?=C3?= =?utf-8?Q?=B6d?=", "Ünïcöd"),
        # Folded over lines.
        ("=?utf-8?q?first_part?=\n =?utf-8?q?_second_part?=", "first part second part"),
        ("Plain\n\tfolded\n  subject", "Plain folded subject"),
        # RFC 2231 language suffix in an encoded word.
        ("=?utf-8*en?q?Hello?=", "Hello"),
        # Lower-case encoding letter and an unpadded base64 word.
        ("=?utf-8?b?w6k?=", "é"),
        # A word whose label Python does not know.
        ("=?unicode-1-1-utf-7?Q?+ANw-bermittlung?=", "Übermittlung"),
        ("=?ks_c_5601-1987?B?x9GxucDP?=", "한국일"),
        # Chinese mislabelled as gb2312 but GBK/GB18030 characters in it.
        (b64word("测试镕", "gb18030").replace("gb18030", "gb2312"), "测试镕"),
        # Windows writes NEC extensions (circled digits) into ISO-2022-JP.
        ("=?ISO-2022-JP?B?GyRCLSEtIhsoQiB0ZXN0?=", "①② test"),
        # Shift_JIS bytes labelled ISO-2022-JP.
        ("=?ISO-2022-JP?B?g2OBW4OL?=", "ツール"),
    ],
)
def test_encoded_word_subjects(subject: str, expected: str) -> None:
    message = parse_message(mail(f"From: a@example.com\nSubject: {subject}"))
    assert message.subject == expected


def test_malformed_encoded_word_is_kept_as_written() -> None:
    message = parse_message(mail("Subject: =?utf-8?B?###?= tail"))
    assert message.subject == "=?utf-8?B?###?= tail"


def test_raw_utf8_next_to_an_encoded_word() -> None:
    """The stdlib decoder turns raw text beside an encoded word into '\\u65e5' soup."""
    raw = mail("Subject: 日本 =?utf-8?q?caf=C3=A9?= ok")
    assert parse_message(raw).subject == "日本 café ok"


# --- addresses -------------------------------------------------------------------------------


def test_encoded_display_names_with_commas() -> None:
    raw = mail(
        "From: =?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?= <jm@example.de>\n"
        'To: "Smith, Anna" <anna@example.com>, =?ISO-8859-1?Q?Ren=E9_L=E9vesque?= '
        "<rene@example.ca>,\n plain@example.org\n"
        'Cc: "=?utf-8?B?5bGx55SwLCDlpKrpg44=?=" <yamada@example.jp>, '
        "=?utf-8?q?Doe=2C?= =?utf-8?q?_John?= <jd@example.com>\n"
        "Reply-To: =?windows-1252?Q?Support_=96_Team?= <support@example.com>\n"
        "Subject: names"
    )
    message = parse_message(raw)
    assert message.from_ == Address("Müller, Jürgen", "jm@example.de")
    assert message.to == (
        Address("Smith, Anna", "anna@example.com"),
        Address("René Lévesque", "rene@example.ca"),
        Address("", "plain@example.org"),
    )
    assert message.cc == (
        Address("山田, 太郎", "yamada@example.jp"),
        Address("Doe, John", "jd@example.com"),
    )
    assert message.reply_to == (Address("Support \u2013 Team", "support@example.com"),)
    assert "to: address header defect" not in message.defects


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("MAILER-DAEMON (Mail Delivery System)", Address("Mail Delivery System", "MAILER-DAEMON")),
        (
            "MAILER-DAEMON (Mail Delivery System) <postmaster@mx.example.com>",
            Address("MAILER-DAEMON", "postmaster@mx.example.com"),
        ),
        ('"Smith (Sales)" <s@example.com>', Address("Smith (Sales)", "s@example.com")),
        ("john@example.com (John Doe)", Address("John Doe", "john@example.com")),
        ('"Clement.Si" <Claudia.Shu@yahoo.com.>', Address("Clement.Si", "Claudia.Shu@yahoo.com.")),
        ("John Smith <john@example.com", Address("John Smith", "john@example.com")),
        ("Test test@example.com", Address("Test", "test@example.com")),
        (
            "=?iso-8859-2?Q?Namedy=F1ski?= (hans@example.com)",
            Address("Namedyński", "hans@example.com"),
        ),
        ("<bare@example.com>", Address("", "bare@example.com")),
        ("'Quoted Single' <qs@example.com>", Address("Quoted Single", "qs@example.com")),
    ],
)
def test_broken_and_unusual_from_headers(header: str, expected: Address) -> None:
    assert parse_message(mail(f"From: {header}\nSubject: s")).from_ == expected


def test_groups_and_junk_in_recipient_lists() -> None:
    raw = mail(
        "From: a@example.com\n"
        "To: undisclosed-recipients:;\n"
        "Cc: Team: x@example.com, y@example.com;, Recipients, , z@example.com\n"
        "Subject: s"
    )
    message = parse_message(raw)
    assert message.to == ()
    assert [a.email for a in message.cc] == ["x@example.com", "y@example.com", "z@example.com"]


def test_raw_8bit_display_names() -> None:
    raw = mail("From: Jürgen Weiß <jw@example.de>\nTo: Zoë <z@example.com>\nSubject: s")
    message = parse_message(raw)
    assert message.from_ == Address("Jürgen Weiß", "jw@example.de")
    assert message.to == (Address("Zoë", "z@example.com"),)


# --- bodies ----------------------------------------------------------------------------------


HTML_ONLY = """\
<html><head><title>Window title</title>
<style>p { color: red } .secret { display: none }</style>
<script>var tracking = "do not show";</script></head>
<body><p>Hello <b>Jane</b>,</p>
<p>Your order:</p><ul><li>one book</li><li>two pens</li></ul>
<p>See <a href="https://shop.example.com/o/1">your order</a>.</p>
<blockquote><p>Earlier message</p></blockquote>
</body></html>
"""


def test_html_only_body_gives_derived_text() -> None:
    raw = mail(
        "From: shop@example.com\nSubject: Order\nMIME-Version: 1.0\n"
        "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit",
        HTML_ONLY,
    )
    message = parse_message(raw)
    assert message.html == HTML_ONLY
    assert message.text == (
        "Hello Jane,\n\nYour order:\n\n- one book\n- two pens\n\n"
        "See your order (https://shop.example.com/o/1).\n\n> Earlier message"
    )
    for hidden in ("Window title", "color: red", "tracking", "do not show"):
        assert hidden not in message.text
    assert message.attachments == ()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
PDF = b"%PDF-1.4\n" + bytes(range(200))


def nested_message() -> bytes:
    """mixed > (alternative > (text, related > (html, inline png)), pdf)."""
    outer = EmailMessage()
    outer["From"] = "Ann <ann@example.com>"
    outer["To"] = "desk@example.com"
    outer["Subject"] = "Nested"
    outer["Message-ID"] = "<nested.1@example.com>"
    outer.set_content("Plain version with ümlauts.\n")
    outer.add_alternative(
        '<p>HTML version with <img src="cid:logo@example.com"> ümlauts.</p>\n', subtype="html"
    )
    html_part = outer.get_payload()[1]
    html_part.add_related(PNG, "image", "png", cid="<logo@example.com>", filename="logo.png")
    outer.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    return outer.as_bytes()


def test_nested_multipart_with_inline_image() -> None:
    message = parse_message(nested_message())
    assert message.subject == "Nested"
    assert message.text == "Plain version with ümlauts.\n"
    assert message.html == ('<p>HTML version with <img src="cid:logo@example.com"> ümlauts.</p>\n')
    logo, report = message.attachments
    assert (logo.filename, logo.content_type, logo.content_id, logo.inline) == (
        "logo.png",
        "image/png",
        "logo@example.com",
        True,
    )
    assert logo.data == PNG
    assert (report.filename, report.content_type, report.inline) == (
        "report.pdf",
        "application/pdf",
        False,
    )
    assert report.data == PDF
    assert message.defects == ()


def forwarded_message() -> bytes:
    inner = EmailMessage()
    inner["From"] = "Boss <boss@example.com>"
    inner["To"] = "ann@example.com"
    inner["Subject"] = "Quarterly numbers: Q3/2024"
    inner["Message-ID"] = "<inner.1@example.com>"
    inner.set_content("The secret inner text.\n")
    outer = EmailMessage()
    outer["From"] = "Ann <ann@example.com>"
    outer["To"] = "desk@example.com"
    outer["Subject"] = "Fwd: Quarterly numbers"
    outer.set_content("Please see the forwarded mail.\n")
    outer.add_attachment(inner)
    return outer.as_bytes()


def test_forwarded_message_is_kept_as_eml_attachment() -> None:
    message = parse_message(forwarded_message())
    assert message.text == "Please see the forwarded mail.\n"
    assert "secret inner text" not in message.text + message.html
    [attached] = message.attachments
    # Named after its subject; a '/' cannot be part of a file name.
    assert attached.filename == "Quarterly numbers: Q3_2024.eml"
    assert attached.content_type == "message/rfc822"
    inner = parse_message(attached.data)
    assert inner.subject == "Quarterly numbers: Q3/2024"
    assert inner.message_id == "inner.1@example.com"
    assert inner.text == "The secret inner text.\n"


def test_delivery_report_is_an_attachment_not_a_forward() -> None:
    raw = mail(
        "From: MAILER-DAEMON@mx.example.com\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
        "--B\nContent-Type: text/plain\n\nI could not deliver it.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        "--B\nContent-Type: text/rfc822-headers\nContent-Description: Undelivered headers\n\n"
        "Subject: hello\n\n--B--\n",
    )
    message = parse_message(raw)
    assert message.text == "I could not deliver it.\n"
    report, headers = message.attachments
    assert (report.filename, report.content_type) == (
        "delivery-status.txt",
        "message/delivery-status",
    )
    assert report.data == (
        b"Reporting-MTA: dns; mx.example.com\n\n"
        b"Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1\n"
    )
    assert (headers.filename, headers.content_type) == (
        "Undelivered headers.txt",
        "text/rfc822-headers",
    )


# --- Message-ID, threading headers -----------------------------------------------------------


NO_ID = (
    "From: Ann <ann@example.com>\nTo: desk@example.com\nSubject: No id\n"
    "Date: Tue, 04 Jun 2024 10:00:00 +0200"
)


def test_missing_message_id_is_deterministic() -> None:
    first = parse_message(mail(NO_ID, "Same body.\n"))
    again = parse_message(mail(NO_ID, "Same body.\n"))
    assert first.message_id_generated
    assert first.message_id.endswith("@" + GENERATED_ID_DOMAIN)
    assert first.message_id == again.message_id
    assert first.content_hash == again.content_hash
    # Delivered again through another hop: trace headers differ, the id does not.
    redelivered = parse_message(
        mail(
            "Received: from mx2.example.net by mx.example.com; Tue, 4 Jun 2024 10:01:00 +0200\n"
            "Delivered-To: desk@example.com\n" + NO_ID,
            "Same body.\n",
        )
    )
    assert redelivered.message_id == first.message_id
    assert redelivered.content_hash == first.content_hash
    # Stored with CRLF line ends and trailing blanks: still the same message.
    crlf = parse_message(mail(NO_ID, "Same body.   \n", crlf=True))
    assert crlf.message_id == first.message_id
    # A different body is a different message.
    other = parse_message(mail(NO_ID, "Other body.\n"))
    assert other.message_id != first.message_id


def test_message_id_brackets_and_junk() -> None:
    message = parse_message(mail("Message-ID:  <abc.123@example.com> (comment)\nSubject: s"))
    assert (message.message_id, message.message_id_generated) == ("abc.123@example.com", False)
    bare = parse_message(mail("Message-Id: 20180802145828.58E7387959@mail.example.cz\nSubject: s"))
    assert bare.message_id == "20180802145828.58E7387959@mail.example.cz"


def test_references_keep_every_id_in_order() -> None:
    ids = [f"id{n:03d}.{n * 7919 % 1000}@host{n % 5}.example.com" for n in range(60)]
    folded = "\n\t".join(f"<{i}>" for i in ids[:30]) + " , " + ",".join(f"<{i}>" for i in ids[30:])
    raw = mail(f"Subject: s\nReferences: {folded} <{ids[3]}>\nIn-Reply-To: <{ids[-1]}>")
    message = parse_message(raw)
    assert message.references == tuple(ids)
    assert message.in_reply_to == (ids[-1],)
    assert message.thread_ids == tuple(ids)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@example.com>", ("abc@example.com",)),
        (
            'Your message of "Mon, 1 Jan 2024 10:00:00 +0000" <abc@example.com>',
            ("abc@example.com",),
        ),
        ("<abc@example.com> (John's message of Mon)", ("abc@example.com",)),
        ("abc@example.com", ("abc@example.com",)),
        ("junk without any id", ()),
        ("<a@x.example> <b@y.example>", ("a@x.example", "b@y.example")),
    ],
)
def test_in_reply_to_with_junk(value: str, expected: tuple[str, ...]) -> None:
    assert parse_message(mail(f"Subject: s\nIn-Reply-To: {value}")).in_reply_to == expected


# --- line endings, charsets, transfer encodings ----------------------------------------------


def test_crlf_message_parses_like_lf() -> None:
    headers = (
        "From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\nTo: desk@example.com\n"
        "Subject: =?utf-8?q?Line_endings?=\n  folded\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="XX"'
    )
    body = (
        "--XX\nContent-Type: text/plain; charset=utf-8\n\nLine one\nLine two\n"
        "--XX\nContent-Type: text/html; charset=utf-8\n\n<p>Line one</p>\n--XX--\n"
    )
    lf = parse_message(mail(headers, body))
    crlf = parse_message(mail(headers, body, crlf=True))
    assert crlf.subject == lf.subject == "Line endings folded"
    assert crlf.from_ == lf.from_ == Address("Jürgen", "j@example.de")
    assert crlf.text == lf.text == "Line one\nLine two"
    assert crlf.html == lf.html == "<p>Line one</p>"
    assert "\r" not in crlf.text + crlf.html


def test_unknown_charset_is_guessed_and_reported() -> None:
    headers = "Subject: s\nContent-Type: text/plain; charset=x-klingon-9"
    utf8 = parse_message(mail(headers, "Grüße, 世界\n"))
    assert utf8.text == "Grüße, 世界\n"
    assert "unknown charset 'x-klingon-9'; decoded as utf-8" in utf8.defects
    latin = parse_message(mail(headers, "Gr\xfc\xdfe\n".encode("latin-1")))
    assert latin.text == "Grüße\n"
    assert any("unknown charset 'x-klingon-9'" in d for d in latin.defects)


def test_declared_latin1_that_is_really_utf8() -> None:
    raw = mail("Subject: s\nContent-Type: text/plain; charset=iso-8859-1", "Grüße\n")
    message = parse_message(raw)
    assert message.text == "Grüße\n"
    assert "charset 'iso-8859-1' was utf-8" in message.defects


def test_8bit_headers_without_declaration() -> None:
    utf8 = parse_message(mail("From: Zoë <z@example.com>\nSubject: Grüße — 日本"))
    assert utf8.subject == "Grüße — 日本"
    latin = parse_message(b"From: J\xfcrgen <j@example.de>\nSubject: Gr\xfc\xdfe\n\nBody\n")
    assert latin.subject == "Grüße"
    assert latin.from_ == Address("Jürgen", "j@example.de")
    koi8 = parse_message(b"Subject: \xd4\xc5\xd3\xd4 \xd4\xc5\xd3\xd4\n\n\xd4\xc5\xd3\xd4\n")
    assert koi8.subject == "тест тест"
    assert koi8.text == "тест\n"
    # Raw bytes in the charset the body declares.
    body = "данные\n"
    head = "Subject: Привет\nContent-Type: text/plain; charset=windows-1251\n\n"
    declared = parse_message((head + body).encode("cp1251"))
    assert (declared.subject, declared.text) == ("Привет", body)
    gbk = parse_message(
        "Subject: 转发：整体提升\nContent-Type: text/plain; charset=gb2312\n\n正文\n".encode("gbk")  # noqa: RUF001
    )
    assert (gbk.subject, gbk.text) == ("转发：整体提升", "正文\n")  # noqa: RUF001


def test_bad_base64() -> None:
    text = "Grüße aus Köln, this is a longer text body."
    good = base64.b64encode(text.encode()).decode()
    head = "Subject: s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64"
    truncated = parse_message(mail(head, good[:-3] + "\n"))
    # 61 of 64 characters: the 15 complete groups (45 of 48 bytes) are kept.
    assert truncated.text == text.encode()[:45].decode()
    assert "truncated base64 in a part; decoded what could be read" in truncated.defects
    junk = parse_message(mail(head, good[:10] + "!!**\n" + good[10:] + "\n"))
    assert junk.text == text
    assert "invalid characters in base64 skipped" in junk.defects
    # Exchange writes the encoding name with a trailing blank.
    spaced = parse_message(mail(head.replace("base64", "base64 "), good + "\n"))
    assert spaced.text == text


def test_quoted_printable_soft_breaks_with_trailing_blanks() -> None:
    head = (
        "Subject: s\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable"
    )
    message = parse_message(mail(head, "Gr=C3=BC=C3=9Fe aus K=C3=B6= \nln  \nEnde\n"))
    assert message.text == "Grüße aus Köln\nEnde\n"


def test_attachment_file_names() -> None:
    raw = mail(
        'Subject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"',
        "--B\nContent-Type: text/plain\n\nSee files.\n"
        "--B\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E5%91%8A%20v2.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERg==\n"
        '--B\nContent-Type: application/octet-stream; name="=?utf-8?B?w6TDtsO8LmJpbg==?="\n'
        "Content-Disposition: attachment\nContent-Transfer-Encoding: base64\n\nAAEC\n"
        "--B\nContent-Type: text/plain\nContent-Disposition: attachment;\n"
        " filename*0*=iso-8859-1''Gr%FC%DFe;\n filename*1=\"  und  Tsch\";\n"
        " filename*2*=%FC%DF.txt\n\nhi\n"
        "--B\nContent-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="C:\\\\Users\\\\ann\\\\secret report.doc"\n\nx\n'
        "--B\nContent-Type: image/png\nContent-ID: <image001.png@01D9AB.12345670>\n\npng\n"
        "--B\nContent-Type: application/x-unknown\n\nabc\n--B--\n",
    )
    message = parse_message(raw)
    assert message.text == "See files."  # the line break before "--B" belongs to the boundary
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("报告 v2.pdf", "application/pdf"),
        ("äöü.bin", "application/octet-stream"),
        ("Grüße  und  Tschüß.txt", "text/plain"),
        ("secret report.doc", "application/octet-stream"),
        ("image001.png", "image/png"),
        ("part-6.bin", "application/x-unknown"),
    ]
    assert message.attachments[0].data == b"%PDF"
    assert message.attachments[4].inline


def test_uuencoded_file_in_a_text_body() -> None:
    line = binascii.b2a_uu(b"hello world\n").decode()
    body = f"Please find the file.\n\nbegin 644 notes.txt\n{line}`\nend\n\nRegards\n"
    message = parse_message(mail("Subject: uu", body))
    assert message.text == "Please find the file.\n\n\nRegards\n"
    [notes] = message.attachments
    assert (notes.filename, notes.content_type, notes.data) == (
        "notes.txt",
        "text/plain",
        b"hello world\n",
    )


def test_headers_kept_for_classification_and_rules() -> None:
    raw = mail(
        "Received: from mx by mx; Tue, 04 Jun 2024 10:00:00 +0200\n"
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; b=AAAA\n"
        "From: a@example.com\nSubject: s\nAuto-Submitted: auto-replied\nPrecedence: bulk\n"
        "X-Autoreply: yes\nList-Id: <list.example.com>\nEnvelope-To: desk@example.com\n"
        "X-Loop: desk@example.com\nX-Priority: 1 (Highest)\n"
        "Organization: =?utf-8?q?Gr=C3=BCn_GmbH?=\nDate: Tue, 04 Jun 2024 10:00:00 +0200"
    )
    message = parse_message(raw)
    assert message.header("auto-submitted") == "auto-replied"
    assert message.header("Precedence") == "bulk"
    assert message.headers["x-autoreply"] == ("yes",)
    assert message.headers["list-id"] == ("<list.example.com>",)
    assert message.headers["envelope-to"] == ("desk@example.com",)
    assert message.headers["organization"] == ("Grün GmbH",)
    assert message.headers["x-priority"] == ("1 (Highest)",)  # any header, for rules
    assert "received" not in message.headers and "dkim-signature" not in message.headers
    assert message.date == datetime(2024, 6, 4, 8, 0, tzinfo=UTC)


# --- broken input never raises ---------------------------------------------------------------


def test_boundary_never_closed() -> None:
    raw = mail(
        'Subject: open\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="OPEN"',
        "--OPEN\nContent-Type: text/plain; charset=utf-8\n\nFirst part text.\n"
        "--OPEN\nContent-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\n"
        "JVBERi0xLjQK\n",
    )
    message = parse_message(raw)
    assert message.text == "First part text."
    [pdf] = message.attachments
    assert (pdf.filename, pdf.data) == ("a.pdf", b"%PDF-1.4\n")
    assert "CloseBoundaryNotFoundDefect" in message.defects


def test_boundary_never_found_keeps_the_text() -> None:
    raw = mail(
        "Subject: x\nContent-Type: multipart/mixed; boundary=nowhere\n"
        "Content-Transfer-Encoding: quoted-printable",
        "Caf=C3=A9 text without parts.\n",
    )
    message = parse_message(raw)
    assert message.text == "Café text without parts.\n"
    assert "StartBoundaryNotFoundDefect" in message.defects
    assert message.attachments == ()


def test_header_repair() -> None:
    lost_fold = mail(
        "Received: by mx.example.com\nX-Tracker: AAAA\nBBBBCCCC\nFrom: a@example.com\n"
        "Subject: still a header"
    )
    message = parse_message(lost_fold)
    assert message.subject == "still a header"
    assert message.from_ == Address("", "a@example.com")
    assert message.text == "Body.\n"
    assert "malformed header lines repaired" in message.defects
    junk_on_top = parse_message(
        b"---- Original message ----\nSubject: s\nFrom: a@b.example\n\nhi\n"
    )
    assert (junk_on_top.subject, junk_on_top.text) == ("s", "hi\n")


def test_header_only_message() -> None:
    message = parse_message(b"From: a@example.com\nSubject: only headers\n")
    assert message.subject == "only headers"
    assert (message.text, message.html, message.attachments) == ("", "", ())
    assert "no body: the message has no text, HTML or attachment" in message.defects


def test_empty_bytes() -> None:
    message = parse_message(b"")
    assert message.subject == ""
    assert message.from_ is None
    assert message.message_id_generated
    assert message.size == 0
    assert not crashed(message)


def test_random_binary_garbage() -> None:
    rng = random.Random(1234)
    for size in (1, 17, 4096, 65536):
        for _ in range(5):
            message = parse_message(rng.randbytes(size))
            assert isinstance(message.subject, str)
            assert not crashed(message)


def test_body_and_headers_of_random_mutations_never_crash() -> None:
    rng = random.Random(99)
    seeds = [nested_message(), forwarded_message(), mail(NO_ID)]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 8)):
            pos = rng.randrange(len(data))
            data[pos : pos + rng.randrange(0, 40)] = rng.randbytes(rng.randrange(0, 40))
        assert not crashed(parse_message(bytes(data)))


def nested_multipart(levels: int) -> bytes:
    lines = ["From: a@example.com", "Subject: deep", "MIME-Version: 1.0"]
    lines.append('Content-Type: multipart/mixed; boundary="b0"')
    lines.append("")
    for level in range(1, levels):
        lines += [f"--b{level - 1}", f'Content-Type: multipart/mixed; boundary="b{level}"', ""]
    lines += [f"--b{levels - 1}", "Content-Type: text/plain", "", "innermost text"]
    for level in reversed(range(levels)):
        lines.append(f"--b{level}--")
    return "\n".join(lines).encode() + b"\n"


def test_fifty_levels_of_nesting() -> None:
    message = parse_message(nested_multipart(50))
    assert message.subject == "deep"
    assert message.text == "innermost text"
    assert message.defects == ()


def test_five_thousand_levels_of_nesting_does_not_raise() -> None:
    message = parse_message(nested_multipart(5000))
    assert not crashed(message)
    assert message.subject == "deep"
    assert message.from_ == Address("", "a@example.com")
    assert message.defects  # says why the body was not read


def test_forwarded_messages_nested_deeply() -> None:
    raw = mail("Subject: inner-most", "core\n")
    for depth in range(80):
        raw = mail(
            f"Subject: level {depth}\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/mixed; boundary="fw{depth}"',
            f"--fw{depth}\nContent-Type: text/plain\n\nwrapper {depth}\n"
            f"--fw{depth}\nContent-Type: message/rfc822\n\n".encode()
            + raw
            + f"\n--fw{depth}--\n".encode(),
        )
    message = parse_message(raw)
    assert not crashed(message)
    assert message.subject == "level 79"
    assert message.text == "wrapper 79"
    [attached] = message.attachments
    assert attached.filename == "level 78.eml"
    assert parse_message(attached.data).subject == "level 78"


def _pathological() -> dict[str, bytes]:
    def big(headers: str, body: str | bytes) -> bytes:
        return mail(headers, body)

    return {
        "long line of undeclared 8-bit": big("Subject: s", b"A" * 2_000_000 + b" \xe9\n"),
        "many encoded words": big("Subject: " + "=?utf-8?q?a?= " * 20_000, "x"),
        "many references": big("Subject: s\nReferences: " + "<a@b> " * 50_000, "x"),
        "html of unclosed tags": big("Subject: s\nContent-Type: text/html", "<a" * 200_000),
        "uuencode look-alikes": big("Subject: s", "begin 644 x\n" * 20_000),
        "stray header lines": (
            "X-A: 1\n" + "junk line\n" * 20_000 + "From: a@b.example\nSubject: s\n\nbody\n"
        ).encode(),
        "many addresses": big(
            "Subject: s\nTo: " + ", ".join(f"u{i} <u{i}@example.com>" for i in range(5000)), "x"
        ),
        "unclosed quotes in addresses": big("Subject: s\nTo: " + '"a, ' * 5000 + "<x@y.z>", "x"),
        "many headers": ("".join(f"X-H{i}: v\n" for i in range(50_000)) + "\nbody\n").encode(),
    }


@pytest.mark.parametrize("name", sorted(_pathological()))
def test_pathological_input_stays_linear(name: str) -> None:
    """Inputs that make a backtracking regex or a nested scan quadratic (each took
    40-60 s before the fix) must parse in well under a few seconds."""
    raw = _pathological()[name]
    start = time.perf_counter()
    message = parse_message(raw)
    assert time.perf_counter() - start < 3.0
    assert not crashed(message)


def test_plain_address_fast_path_agrees_with_mail_parser() -> None:
    """The shortcut for ``Name <a@b>, c@d`` must read every header as mail-parser does."""
    from mailparser.utils import get_addresses

    from echodesk.mailbox.parse import _plain_mailboxes
    from tests.conftest import corpus_dir

    checked = 0
    for path in sorted(corpus_dir().rglob("*")):
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        head = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii", "replace")
        for line in head.splitlines():
            name, _, value = line.partition(":")
            if name.lower() not in ("from", "to", "cc", "reply-to") or not value.strip():
                continue
            plain = _plain_mailboxes(value)
            if plain is None:
                continue
            checked += 1
            assert plain == [tuple(p) for p in get_addresses(value)], (path, value)
    assert checked > 500
