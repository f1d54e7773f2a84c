"""Composing outgoing mail: subjects, threading headers, encodings, safe HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from echodesk.desk.threader import subject_tag_pattern
from echodesk.errors import DeliveryError
from echodesk.mailbox.compose import (
    OutgoingMail,
    compose,
    html_from_text,
    new_message_id,
    reply_subject,
    shorten_references,
)
from echodesk.mailbox.message import Address, AttachmentPart
from echodesk.mailbox.parse import parse_message

TAG = subject_tag_pattern("TKT")


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        ("Printer on fire", "Re: Printer on fire [TKT-0042]"),
        ("Re: Printer on fire", "Re: Printer on fire [TKT-0042]"),
        ("RE: Re: re:Printer on fire", "Re: Printer on fire [TKT-0042]"),
        ("AW: SV: Antw: Drucker", "Re: Drucker [TKT-0042]"),
        ("Re[2]: Printer", "Re: Printer [TKT-0042]"),
        ("回复: 打印机", "Re: 打印机 [TKT-0042]"),
        ("Re: Printer [TKT-0042]", "Re: Printer [TKT-0042]"),
        ("[TKT-0042] Re: Printer [tkt-0042]", "Re: Printer [TKT-0042]"),
        ("Fwd: Printer", "Re: Fwd: Printer [TKT-0042]"),
        ("Re: ", "Re: [TKT-0042]"),
        ("  Printer\t on \n fire  ", "Re: Printer on fire [TKT-0042]"),
        ("Regarding the invoice", "Re: Regarding the invoice [TKT-0042]"),
    ],
)
def test_reply_subject_has_one_prefix_and_one_tag(incoming: str, expected: str) -> None:
    assert reply_subject(incoming, TAG, "TKT-0042") == expected


def test_long_reference_chains_keep_the_root_and_the_latest() -> None:
    ids = tuple(f"m{n}@x.test" for n in range(30))
    short = shorten_references(ids)
    assert short[0] == "m0@x.test"
    assert short[1:] == ids[-9:]
    assert shorten_references(("a@x", "b@x", "a@x", "")) == ("a@x", "b@x")


def _mail(**kw: object) -> OutgoingMail:
    base: dict[str, object] = {
        "from_": Address("Støtte Support", "support@desk.test"),
        "to": (Address("Zoë Ça", "zoe@customer.test"),),
        "cc": (Address("", "carol@partner.test"),),
        "reply_to": Address("Støtte Support", "support+t-1-abc@desk.test"),
        "subject": "Re: Ärger mit dem Drucker [TKT-0001]",
        "text": "Hallo Zoë,\n\nwir kümmern uns.\n\n> Mein Drucker brennt.\n",
        "message_id": "echo.1@desk.test",
        "date": datetime(2026, 11, 2, 10, 30, tzinfo=UTC),
        "in_reply_to": "m2@customer.test",
        "references": ("m1@customer.test", "m2@customer.test"),
    }
    base.update(kw)
    return OutgoingMail(**base)  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def test_non_ascii_names_subjects_bodies_and_file_names_round_trip() -> None:
    pdf = AttachmentPart("Rechnung für Zoë €.pdf", "application/pdf", b"%PDF-1.4\x00\xff")
    raw = compose(_mail(attachments=(pdf,)))
    assert raw.isascii()  # every header encoded, every body quoted-printable or base64
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = parse_message(raw)
    assert parsed.subject == "Re: Ärger mit dem Drucker [TKT-0001]"
    assert parsed.from_ == Address("Støtte Support", "support@desk.test")
    assert parsed.to == (Address("Zoë Ça", "zoe@customer.test"),)
    expected = "Hallo Zoë,\n\nwir kümmern uns.\n\n> Mein Drucker brennt.\n"
    assert parsed.text.replace("\r\n", "\n") == expected
    assert [(a.filename, a.data) for a in parsed.attachments] == [
        ("Rechnung für Zoë €.pdf", b"%PDF-1.4\x00\xff")
    ]
    msg = _parse(raw)
    assert msg["Date"] == "Mon, 02 Nov 2026 10:30:00 +0000"
    assert msg["Reply-To"].addresses[0].addr_spec == "support+t-1-abc@desk.test"


def test_long_message_ids_are_written_raw_and_never_encoded() -> None:
    long_ids = tuple(f"{'x' * 120}.{n}@very-long-domain-name.example.com" for n in range(5))
    raw = compose(_mail(in_reply_to=long_ids[-1], references=long_ids))
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    id_headers = head.split("\r\nFrom:")[0]
    assert id_headers.startswith("Message-ID: <echo.1@desk.test>\r\nIn-Reply-To: <")
    assert "=?" not in id_headers  # no encoded words, ids folded only between ids
    parsed = parse_message(raw)
    assert parsed.references == long_ids
    assert parsed.in_reply_to == (long_ids[-1],)
    assert parsed.message_id == "echo.1@desk.test"


def test_auto_mail_says_so_and_a_persons_reply_does_not() -> None:
    auto = _parse(compose(_mail(auto_submitted="auto-replied", loop_marker="desk.test")))
    assert auto["Auto-Submitted"] == "auto-replied"
    assert auto["X-Auto-Response-Suppress"] == "All"
    assert auto["X-Echodesk-Loop"] == "desk.test"
    person = _parse(compose(_mail()))
    assert person["Auto-Submitted"] is None and person["X-Auto-Response-Suppress"] is None


def test_the_html_part_never_carries_markup_from_the_text() -> None:
    hostile = '<script>alert(1)</script> <img src=x onerror=alert(2)> "quotes" & more\n'
    hostile += 'see https://example.com/a?b=1&c="><script>x</script>\n'
    page = html_from_text(hostile)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs == ["https://example.com/a?b=1&amp;c="]
    msg = _parse(compose(_mail(text=hostile)))
    html = msg.get_body(("html",))
    assert html is not None and "<script" not in str(html.get_content())


def test_quoted_lines_become_a_blockquote() -> None:
    page = html_from_text("Answer.\n\n> question one\n> question two\nThanks")
    assert "<blockquote" in page and "question one<br>\nquestion two</blockquote>" in page
    assert '<p style="margin:0 0 1em 0">Thanks</p>' in page


def test_unusable_addresses_and_ids_are_refused_clearly() -> None:
    with pytest.raises(DeliveryError, match="not a usable mail address"):
        compose(_mail(to=(Address("", "no-at-sign"),)))
    with pytest.raises(DeliveryError, match="not a usable mail address"):
        compose(_mail(to=(Address("", "a@b.test\r\nBcc: evil@x.test"),)))
    with pytest.raises(DeliveryError, match="Message-ID"):
        compose(_mail(in_reply_to="bad id\r\nX-Injected: yes"))


def test_new_message_ids_are_unique_on_the_domain() -> None:
    ids = {new_message_id("desk.test") for _ in range(1000)}
    assert len(ids) == 1000 and all(i.endswith("@desk.test") for i in ids)
