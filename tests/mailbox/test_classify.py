"""Bounce, loop and auto-reply detection: labelled real mail plus hand-built cases."""

from __future__ import annotations

import csv

import pytest

from echodesk.mailbox.classify import Kind, classify
from echodesk.mailbox.parse import parse_message
from tests.conftest import corpus_dir
from tests.support.mail import make_mail


def _kind(raw: bytes, own: tuple[str, ...] = ()) -> Kind:
    return classify(parse_message(raw), own).kind


def test_sisimai_bounces_and_auto_replies() -> None:
    root = corpus_dir() / "sisimai-set-of-emails"
    with (root / "expected-results.tsv").open() as fh:
        reasons = {row["file"]: row["reason"] for row in csv.DictReader(fh, delimiter="\t")}
    wrong_auto, wrong_complaint, bounces, missed = [], [], 0, []
    for name, reason in sorted(reasons.items()):
        kind = _kind((root / "maildir" / "bsd" / name).read_bytes())
        if reason == "vacation":
            if kind is not Kind.AUTO_REPLY:
                wrong_auto.append(name)
            continue
        if reason == "feedback":  # arf-26 is Apple Mail's unsubscribe request: an auto-reply
            if kind is not Kind.COMPLAINT and name != "arf-26.eml":
                wrong_complaint.append(name)
            continue
        bounces += 1
        if kind is not Kind.BOUNCE:
            missed.append(name)
    assert wrong_auto == []
    assert wrong_complaint == []
    # A missed bounce is never answered anyway unless it looks like a person's mail;
    # the floor keeps what detection reaches today.
    rate = 1 - len(missed) / bounces
    assert rate >= 0.99, f"bounce detection {rate:.1%}; missed: {missed}"
    for name in ("is-not-bounce-01.eml", "is-not-bounce-02.eml"):
        assert _kind((root / "maildir" / "not" / name).read_bytes()) is Kind.CUSTOMER


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Auto-Submitted": "auto-replied"}, Kind.AUTO_REPLY),
        ({"Auto-Submitted": "auto-generated; type=vacation"}, Kind.AUTO_REPLY),
        ({"Auto-Submitted": "no"}, Kind.CUSTOMER),
        ({"Auto-Submitted": "No"}, Kind.CUSTOMER),
        ({"X-Autoreply": "yes"}, Kind.AUTO_REPLY),
        ({"X-Autorespond": "Out of office"}, Kind.AUTO_REPLY),
        ({"Precedence": "bulk"}, Kind.AUTO_REPLY),
        ({"Precedence": "junk"}, Kind.AUTO_REPLY),
        ({"Precedence": "list"}, Kind.AUTO_REPLY),
        ({"Precedence": "first-class"}, Kind.CUSTOMER),
        ({"X-Auto-Response-Suppress": "All"}, Kind.AUTO_REPLY),
        ({"X-Auto-Response-Suppress": "OOF, AutoReply"}, Kind.AUTO_REPLY),
        ({"X-Failed-Recipients": "gone@example.com"}, Kind.BOUNCE),
        ({"X-Echodesk-Loop": "desk.test"}, Kind.CUSTOMER),  # names no installation: not a loop
        ({}, Kind.CUSTOMER),
    ],
)
def test_headers_decide_the_kind(headers: dict[str, str], expected: Kind) -> None:
    assert _kind(make_mail(headers=headers)) is expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Automatic reply: Printer on fire", Kind.AUTO_REPLY),
        ("Out of Office: back Monday", Kind.AUTO_REPLY),
        ("Abwesenheitsnotiz: Urlaub", Kind.AUTO_REPLY),
        ("Out of office printers keep failing", Kind.CUSTOMER),  # a person's subject
        ("Re: my automatic reply settings", Kind.CUSTOMER),
    ],
)
def test_auto_reply_subjects(subject: str, expected: Kind) -> None:
    assert _kind(make_mail(subject=subject)) is expected


def test_mailer_daemon_failure_is_a_bounce_but_a_postmaster_question_is_not() -> None:
    failure = make_mail(
        sender="Mail Delivery System <MAILER-DAEMON@mx.test>",
        subject="Undelivered Mail Returned to Sender",
    )
    assert _kind(failure) is Kind.BOUNCE
    question = make_mail(sender="postmaster@customer.test", subject="Question about SPF")
    assert _kind(question) is Kind.CUSTOMER


def test_mail_from_echos_own_address_is_a_loop() -> None:
    raw = make_mail(sender="Support <SUPPORT@desk.test>")
    assert _kind(raw, ("support@desk.test",)) is Kind.LOOP


def test_a_plain_text_failure_notice_without_a_from_is_a_bounce() -> None:
    raw = (
        b"Return-Path: <>\r\nSubject: Mail delivery failed\r\nTo: support@desk.test\r\n"
        b"Message-ID: <dfly1@mx.test>\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        b"  gone@customer.test\r\n    host mx.customer.test [192.0.2.1]\r\n"
        b"    SMTP error from remote mail server after RCPT TO:<gone@customer.test>:\r\n"
        b"    550 5.1.1 <gone@customer.test>: Recipient address rejected: User unknown\r\n"
    )
    verdict = classify(parse_message(raw))
    assert verdict.kind is Kind.BOUNCE and "report (exim)" in verdict.reason


def test_a_customer_writing_about_an_undeliverable_parcel_stays_a_customer() -> None:
    raw = make_mail(
        subject="Undeliverable: my parcel never arrived",
        body="Hi, the courier says the parcel was returned to sender: 550 euros lost!\n",
    )
    assert _kind(raw) is Kind.CUSTOMER
