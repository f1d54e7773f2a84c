"""Abuse complaints (ARF feedback reports and their older cousins): a complaint, never a bounce."""

from __future__ import annotations

import json

import pytest

from echodesk.mailbox.bounce import read_bounce
from echodesk.mailbox.classify import Kind, classify
from echodesk.mailbox.complaint import read_complaint
from echodesk.mailbox.parse import parse_message

ORIGINAL = """\
Return-Path: <bounces+17-0123456789ab@desk.test>
Received: from mx.desk.test by mx.isp.example; Mon, 02 Nov 2026 09:00:01 +0000
Message-ID: <tkt-7.2@desk.test>
Date: Mon, 02 Nov 2026 09:00:00 +0000
From: Echo Support <support@desk.test>
To: Annoyed Customer <annoyed@isp.example>
Subject: [TKT-0007] Your invoice

Your invoice is attached.
"""


def arf(
    feedback_type: str = "abuse", rcpt: str = "Original-Rcpt-To: <annoyed@isp.example>\n"
) -> bytes:
    """An RFC 5965 feedback report as a mailbox provider's feedback loop sends it."""
    return f"""\
From: Feedback Loop <fbl@isp.example>
To: fbl-reports@desk.test
Subject: Abuse Report
Message-ID: <fbl-1@isp.example>
Auto-Submitted: auto-generated
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="fb"

--fb
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.7.

--fb
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ISP-FBL/2.0
Version: 1
Original-Mail-From: <bounces+17-0123456789ab@desk.test>
{rcpt}Arrival-Date: Mon, 02 Nov 2026 09:00:01 +0000
Source-IP: 192.0.2.7

--fb
Content-Type: message/rfc822

{ORIGINAL}
--fb--
""".encode()


def test_an_arf_report_is_a_complaint_not_a_bounce() -> None:
    msg = parse_message(arf())
    verdict = classify(msg, ("support@desk.test",))
    assert verdict.kind is Kind.COMPLAINT and "ARF" in verdict.reason
    assert read_bounce(msg).recipients == ()  # nobody's delivery failed
    report = read_complaint(msg, ("support@desk.test",))
    assert report.feedback_type == "abuse" and report.unwanted
    assert report.recipients == ("annoyed@isp.example",)
    assert report.original_message_id == "tkt-7.2@desk.test"
    assert "bounces+17-0123456789ab@desk.test" in report.original_senders
    assert report.reporter == "ISP-FBL/2.0"


def test_a_redacted_report_still_names_the_original() -> None:
    """Providers often hide the complainant: the original's To and id still say who."""
    report = read_complaint(parse_message(arf(rcpt="")))
    assert report.recipients == ("annoyed@isp.example",)
    assert report.original_message_id == "tkt-7.2@desk.test"


@pytest.mark.parametrize(("kind", "unwanted"), [("not-spam", False), ("auth-failure", False)])
def test_reports_that_are_not_a_persons_complaint_silence_nobody(kind: str, unwanted: bool) -> None:
    msg = parse_message(arf(kind))
    assert classify(msg).kind is Kind.COMPLAINT
    assert read_complaint(msg).unwanted is unwanted


def test_a_junk_mail_report_enclosing_the_original_is_a_complaint() -> None:
    raw = f"""\
From: staff@mail.example
To: fbl-reports@desk.test
Subject: complaint about message from 192.0.2.7
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="jm"

--jm
Content-Type: message/rfc822
Content-Disposition: inline

X-HmXmrOriginalRecipient: <annoyed@isp.example>
{ORIGINAL}
--jm--
""".encode()
    msg = parse_message(raw)
    assert classify(msg).kind is Kind.COMPLAINT
    report = read_complaint(msg)
    assert report.recipients[0] == "annoyed@isp.example"
    assert report.original_message_id == "tkt-7.2@desk.test"


def test_an_ses_complaint_notification_is_a_complaint() -> None:
    body = json.dumps(
        {
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": "annoyed@isp.example"}],
                "complaintFeedbackType": "abuse",
                "userAgent": "ISP-FBL/2.0",
            },
            "mail": {
                "source": "bounces+17-0123456789ab@desk.test",
                "commonHeaders": {"messageId": "<tkt-7.2@desk.test>"},
            },
        }
    )
    raw = (
        "From: no-reply@sns.example\nTo: hooks@desk.test\nSubject: Notification\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain\n\n{body}\n"
    ).encode()
    msg = parse_message(raw)
    assert classify(msg).kind is Kind.COMPLAINT
    report = read_complaint(msg)
    assert report.recipients == ("annoyed@isp.example",)
    assert report.original_message_id == "tkt-7.2@desk.test"


def test_a_customer_forwarding_a_spam_complaint_text_is_customer_mail() -> None:
    raw = (
        b"From: Alice <alice@customer.test>\nTo: support@desk.test\nSubject: Feedback-Type?\n"
        b"MIME-Version: 1.0\nContent-Type: text/plain\n\n"
        b"What does Feedback-Type: abuse mean in my mail client?\n"
    )
    assert classify(parse_message(raw)).kind is Kind.CUSTOMER


def test_garbage_never_raises() -> None:
    raw = arf().replace(b"Feedback-Type: abuse", b"Feedback-Type: " + b"\xff" * 5000)
    report = read_complaint(parse_message(raw[: len(raw) // 2]))
    assert isinstance(report.recipients, tuple)
