"""has_attachment and attachment_type, on parsed messages with real MIME parts."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage
from email.policy import SMTP

from echodesk.mailbox.message import AttachmentPart, ParsedMessage
from echodesk.mailbox.parse import parse_message
from tests.rules.support import judge, mail


def with_files(*files: tuple[str, str]) -> ParsedMessage:
    msg = EmailMessage()
    msg["From"] = "alice@customer.test"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Files"
    msg.set_content("See attached.\n")
    for filename, content_type in files:
        main, sub = content_type.split("/")
        msg.add_attachment(b"data", maintype=main, subtype=sub, filename=filename)
    return parse_message(msg.as_bytes(policy=SMTP))


def test_has_attachment() -> None:
    files = with_files(("report.pdf", "application/pdf"))
    assert judge("has_attachment: true", files).why == (
        "has attachment: yes (report.pdf: application/pdf)"
    )
    assert judge("has_attachment: false", files).why == (
        "has no attachment: no (report.pdf: application/pdf)"
    )
    assert judge("has_attachment: true", mail()).why == "has attachment: no (no attachments)"
    assert judge("has_attachment: no", mail()).why == "has no attachment: yes (no attachments)"


def test_attachment_type_glob_and_list() -> None:
    files = with_files(("report.pdf", "application/pdf"), ("shot.png", "image/png"))
    outcome = judge("attachment_type: image/*", files)
    assert (outcome.matched, outcome.why) == (
        True,
        "attachment type image/*: yes (shot.png: image/png)",
    )
    outcome = judge("attachment_type: [text/*, application/zip]", files)
    assert (outcome.matched, outcome.why) == (
        False,
        "attachment type text/* or application/zip: no "
        "(report.pdf: application/pdf, shot.png: image/png)",
    )
    assert judge("attachment_type: [text/*, APPLICATION/PDF]", files).matched
    assert judge("attachment_type: image/*", mail()).why == (
        "attachment type image/*: no (no attachments)"
    )


def test_inline_images_count() -> None:
    inline = AttachmentPart("logo.png", "image/png", b"x", content_id="c1", inline=True)
    msg = dataclasses.replace(mail(), attachments=(inline,))
    assert judge("has_attachment: true", msg).matched
    assert judge("attachment_type: image/png", msg).matched


def test_unnamed_file() -> None:
    part = AttachmentPart("", "Application/Octet-Stream", b"x")
    msg = dataclasses.replace(mail(), attachments=(part,))
    assert judge("attachment_type: application/*", msg).why == (
        "attachment type application/*: yes (unnamed: application/octet-stream)"
    )
