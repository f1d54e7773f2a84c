"""Reading what bounced: hand-built reports of every kind, hostile input, and corpus floors.

The corpus floors are measured with the same code as ``bench/bounces.py``.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from echodesk.mailbox.bounce import BounceReport, FailedRecipient, read_bounce
from echodesk.mailbox.parse import parse_message
from tests.conftest import corpus_dir
from tests.support.mail import make_mail

REPO_ROOT = Path(__file__).resolve().parents[2]
EMPTY = BounceReport((), "", (), "")

ORIGINAL = """\
Return-Path: <support@desk.test>
Message-ID: <tkt-42.1@desk.test>
Date: Mon, 02 Nov 2026 09:00:00 +0000
From: Echo Support <support@desk.test>
To: Gone Customer <Gone@Example.com>
Cc: other@example.org
Subject: [TKT-0042] Your printer

We are on it.
"""


def dsn(fields: str, *, text: str = "Delivery failed.\n", crlf: bool = False) -> bytes:
    """A multipart/report DSN from the per-message and per-recipient field blocks."""
    raw = f"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: support+bounce@desk.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain; charset=us-ascii

{text}
--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com
Arrival-Date: Mon, 2 Nov 2026 09:00:01 +0000

{fields}
--b1
Content-Type: message/rfc822

{ORIGINAL}
--b1--
"""
    data = raw.encode()
    return data.replace(b"\n", b"\r\n") if crlf else data


def text_bounce(
    body: str, *, subject: str = "Mail delivery failed", headers: str = "", sender: str = ""
) -> bytes:
    """A plain-text (non-DSN) bounce as MTAs write them: one text/plain body."""
    sender = sender or "Mail Delivery System <MAILER-DAEMON@mx.example.com>"
    raw = f"""\
From: {sender}
To: support+bounce@desk.test
Subject: {subject}
Message-ID: <text-1@mx.example.com>
{headers}MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

{body}"""
    return raw.encode()


def read(raw: bytes, own: tuple[str, ...] = ()) -> BounceReport:
    return read_bounce(parse_message(raw), own)


GONE = """\
Final-Recipient: rfc822; gone@example.com
Original-Recipient: rfc822;Gone@Example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown
"""


# -- standard DSNs ------------------------------------------------------------------


def test_dsn_names_the_failed_recipient_and_the_returned_message() -> None:
    report = read(dsn(GONE))
    assert report.recipients == (
        FailedRecipient(
            "gone@example.com",
            "5.1.1",
            "failed",
            "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown",
        ),
    )
    assert report.format == "dsn"
    assert report.original_message_id == "tkt-42.1@desk.test"
    assert report.original_to == ("gone@example.com", "other@example.org")
    assert report.permanent
    assert report.recipients[0].permanent and not report.recipients[0].temporary


def test_dsn_with_several_recipients_keeps_their_order_and_each_status() -> None:
    fields = (
        GONE
        + """
Final-Recipient: rfc822; full@example.net
Action: delayed
Status: 4.2.2
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.1.1
"""
    )
    report = read(dsn(fields))
    assert [(r.address, r.status, r.action) for r in report.recipients] == [
        ("gone@example.com", "5.1.1", "failed"),
        ("full@example.net", "4.2.2", "delayed"),
    ]
    assert report.recipients[1].temporary and not report.recipients[1].permanent
    assert report.permanent  # one of them failed for good


def test_dsn_fields_folded_odd_case_brackets_and_no_space() -> None:
    fields = """\
final-recipient: RFC822;<Folded.User@Example.COM>
ACTION: Failed
status: 5.7.1 (delivery not authorized)
diagnostic-code: smtp;550 5.7.1 Message rejected
  because the sender's domain has a DMARC
\treject policy
"""
    (rec,) = read(dsn(fields)).recipients
    assert rec.address == "folded.user@example.com"
    assert rec.action == "failed"
    assert rec.status == "5.7.1"
    assert rec.diagnostic == (
        "550 5.7.1 Message rejected because the sender's domain has a DMARC reject policy"
    )


def test_dsn_written_with_crlf_reads_the_same() -> None:
    crlf = read(dsn(GONE, crlf=True))
    assert crlf.recipients and crlf == read(dsn(GONE))


def test_delay_notice_is_temporary_not_permanent() -> None:
    fields = """\
Final-Recipient: rfc822; slow@example.com
Action: delayed
Status: 4.4.7
Will-Retry-Until: Thu, 5 Nov 2026 09:00:00 +0000
"""
    report = read(dsn(fields))
    (rec,) = report.recipients
    assert (rec.status, rec.action) == ("4.4.7", "delayed")
    assert rec.temporary and not rec.permanent
    assert not report.permanent


def test_success_dsn_reads_as_delivered_neither_permanent_nor_temporary() -> None:
    fields = """\
Final-Recipient: rfc822; happy@example.com
Action: delivered
Status: 2.0.0
Diagnostic-Code: smtp; 250 2.0.0 OK queued as 4Xyz
"""
    (rec,) = read(dsn(fields)).recipients
    assert (rec.address, rec.status, rec.action) == ("happy@example.com", "2.0.0", "delivered")
    assert not rec.permanent and not rec.temporary


def test_without_final_recipient_the_original_recipient_is_used() -> None:
    fields = """\
Original-Recipient: rfc822; first@example.com
Action: failed
Status: 5.2.1
"""
    (rec,) = read(dsn(fields)).recipients
    assert (rec.address, rec.status) == ("first@example.com", "5.2.1")


def test_vague_status_gives_way_to_the_servers_own_code() -> None:
    fields = """\
Final-Recipient: rfc822; gone@example.com
Action: failed
Status: 5.0.0
Diagnostic-Code: smtp; 550 5.1.1 The email account that you tried to reach does not exist
"""
    assert read(dsn(fields)).recipients[0].status == "5.1.1"


def test_dsn_without_status_infers_it_from_the_reply_code() -> None:
    fields = """\
Final-Recipient: rfc822; gone@example.com
Action: failed
Diagnostic-Code: smtp; 550 Requested action not taken: mailbox unavailable
"""
    assert read(dsn(fields)).recipients[0].status == "5.0.0"


def test_echos_own_addresses_are_never_reported() -> None:
    fields = GONE + "\nFinal-Recipient: rfc822; support@desk.test\nAction: failed\nStatus: 5.1.1\n"
    report = read(dsn(fields), own=("Support@Desk.Test",))
    assert [r.address for r in report.recipients] == ["gone@example.com"]


def test_recipients_are_capped() -> None:
    blocks = "\n".join(
        f"Final-Recipient: rfc822; user{i}@example.com\nAction: failed\nStatus: 5.1.1\n"
        for i in range(150)
    )
    assert len(read(dsn(blocks)).recipients) == 100


def test_complaint_report_names_no_failed_recipient() -> None:
    raw = b"""\
From: staff@hotmail.example
To: support+bounce@desk.test
Subject: complaint about message from 192.0.2.1
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b2"

--b2
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.
--b2
Content-Type: message/feedback-report

Feedback-Type: abuse
Original-Rcpt-To: <complainer@example.com>

--b2--
"""
    assert read(raw).recipients == ()


# -- plain-text reports ---------------------------------------------------------------

EXIM = (
    """\
This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@example.com
    host mx.example.com [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<gone@example.com>:
    550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

"""
    + ORIGINAL
)

EXIM_DELAY = """\
This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.com.

The message identifier is:     1kSH9d-0005pw-05
The subject of the message is: [TKT-0042] Your printer

The address to which the message has not yet been delivered is:

  slow@example.com
    host mx.example.com [192.0.2.25]
    Delay reason: SMTP error from remote mail server after MAIL FROM:<support@desk.test>:
    451 Temporary local problem - please try later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered.
"""

QMAIL = (
    """\
Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<gone@example.com>:
192.0.2.25 does not like recipient.
Remote host said: 550 sorry, no mailbox here by that name. (#5.1.1)
Giving up on 192.0.2.25.

<full@example.net>:
Sorry, this mailbox is over quota. (#5.2.2)

--- Below this line is a copy of the message.

"""
    + ORIGINAL
)

POSTFIX = """\
This is the mail system at host mx.example.com.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<gone@example.com>: host mx.example.com[192.0.2.25] said: 550 5.1.1
    <gone@example.com>: Recipient address rejected: User unknown in local
    recipient table (in reply to RCPT TO command)
"""

SENDMAIL = (
    """\
The original message was received at Mon, 2 Nov 2026 09:00:00 +0900
from desk.test [192.0.2.10]

   ----- The following addresses had permanent fatal errors -----
<gone@example.com>
    (reason: 550 5.1.1 <gone@example.com>... User unknown)

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> RCPT To:<gone@example.com>
<<< 550 5.1.1 <gone@example.com>... User unknown
550 5.1.1 <gone@example.com>... User unknown

   ----- Original message follows -----

"""
    + ORIGINAL
)

AOL = """\
The original message was received at Mon, 2 Nov 2026 09:00:00 -0500
from desk.test [192.0.2.10]

   ----- The following addresses had permanent fatal errors -----
<gone@aol.example>
    (reason: 550 MAILBOX NOT FOUND)

   ----- Transcript of session follows -----
... while talking to air-xa01.mail.aol.example.:
>>> RCPT To:<gone@aol.example>
<<< 550 MAILBOX NOT FOUND
550 <gone@aol.example>... User unknown
"""

GMAIL_OLD = (
    """\
Delivery to the following recipient failed permanently:

     gone@example.com

Technical details of permanent failure:
Google tried to deliver your message, but it was rejected by the server for
the recipient domain example.com by mx.example.com. [192.0.2.25].

The error that the other server returned was:
550 5.1.1 <gone@example.com>... User Unknown

----- Original message -----

"""
    + ORIGINAL
)

GMAIL_NEW = """\
** Address not found **

Your message wasn't delivered to gone@example.com because the address couldn't be
found, or is unable to receive mail.

The response from the remote server was:
550 5.1.1 The email account that you tried to reach does not exist.
"""

EXCHANGE_2003 = """\
Your message

  To:      gone@example.com
  Subject: [TKT-0042] Your printer
  Sent:    Mon, 2 Nov 2026 09:00:00 +0000

did not reach the following recipient(s):

gone@example.com on Mon, 2 Nov 2026 09:00:05 +0000
    The e-mail account does not exist at the organization this message was sent to.
    <mx.example.com #5.1.1>
"""

#: Office 365 writes the server's answer on one long line.
O365_ANSWER = (
    "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
    "Recipient not found by SMTP address lookup'"
)
OFFICE365 = (
    f"""\
Delivery has failed to these recipients or groups:

gone@example.com<mailto:gone@example.com>
The email address wasn't found at the destination domain. It might be misspelled
or it might not exist any longer. Try retyping the address and resending the message.

Diagnostic information for administrators:

Generating server: AM0PR01MB1234.eurprd01.prod.exchangelabs.com

gone@example.com
{O365_ANSWER}

Original message headers:

"""
    + ORIGINAL
)

YAHOO = (
    """\
Sorry, we were unable to deliver your message to the following address.

<gone@yahoo.example>:
Remote host said: 554 delivery error: dd This user doesn't have a yahoo.example
 account (gone@yahoo.example) [0] - mta1047.mail.example.yahoo.com [RCPT_TO]

--- Below this line is a copy of the message.

"""
    + ORIGINAL
)

GENERIC = (
    """\
Your message could not be delivered.

gone@example.com... User unknown

--- Returned message ---
"""
    + ORIGINAL
)


@pytest.mark.parametrize(
    ("body", "fmt", "address", "status", "action"),
    [
        (EXIM, "exim", "gone@example.com", "5.1.1", "failed"),
        (EXIM_DELAY, "exim", "slow@example.com", "4.0.0", "delayed"),
        (QMAIL, "qmail", "gone@example.com", "5.1.1", "failed"),
        (POSTFIX, "postfix-text", "gone@example.com", "5.1.1", "failed"),
        (SENDMAIL, "sendmail-text", "gone@example.com", "5.1.1", "failed"),
        (AOL, "sendmail-text", "gone@aol.example", "5.1.1", "failed"),  # "mailbox not found"
        (GMAIL_OLD, "gmail-text", "gone@example.com", "5.1.1", "failed"),
        (GMAIL_NEW, "gmail-text", "gone@example.com", "5.1.1", "failed"),
        (EXCHANGE_2003, "exchange-text", "gone@example.com", "5.1.1", "failed"),
        (OFFICE365, "exchange-text", "gone@example.com", "5.1.10", "failed"),
        (YAHOO, "yahoo-text", "gone@yahoo.example", "5.0.0", "failed"),
        (GENERIC, "generic-text", "gone@example.com", "5.1.1", "failed"),
    ],
)
def test_text_reports_name_the_failed_recipient(
    body: str, fmt: str, address: str, status: str, action: str
) -> None:
    report = read(text_bounce(body))
    assert report.format == fmt
    first = report.recipients[0]
    assert (first.address, first.status, first.action) == (address, status, action)
    assert first.diagnostic, "the server's answer (or the report's words) is kept"
    assert "support@desk.test" not in [r.address for r in report.recipients]


def test_text_report_with_two_recipients_gives_each_its_own_reason() -> None:
    report = read(text_bounce(QMAIL))
    assert [(r.address, r.status) for r in report.recipients] == [
        ("gone@example.com", "5.1.1"),
        ("full@example.net", "5.2.2"),
    ]
    assert report.recipients[0].diagnostic.startswith("550 sorry, no mailbox here by that name")


def test_quoted_original_in_the_text_gives_message_id_and_to() -> None:
    report = read(text_bounce(EXIM))
    assert report.original_message_id == "tkt-42.1@desk.test"
    assert report.original_to == ("gone@example.com", "other@example.org")


def test_x_failed_recipients_header_alone_is_enough() -> None:
    raw = text_bounce(
        "Your message could not be delivered to some recipients.\n",
        headers="X-Failed-Recipients: gone@example.com, second@example.net\n",
    )
    report = read(raw)
    assert report.format == "x-failed-recipients"
    assert [r.address for r in report.recipients] == ["gone@example.com", "second@example.net"]
    assert all(r.action == "failed" and r.permanent for r in report.recipients)


def test_exim_with_x_failed_recipients_reads_as_exim() -> None:
    report = read(text_bounce(EXIM, headers="X-Failed-Recipients: gone@example.com\n"))
    assert report.format == "exim"
    assert [r.address for r in report.recipients] == ["gone@example.com"]
    assert report.recipients[0].status == "5.1.1"


def test_amazon_ses_json_notification() -> None:
    notification = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [
                {
                    "emailAddress": "gone@example.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        },
        "mail": {
            "commonHeaders": {
                "to": ["Gone <gone@example.com>"],
                "messageId": "<tkt-42.1@desk.test>",
            }
        },
    }
    raw = text_bounce(
        json.dumps(notification) + "\n\n--\nIf you wish to stop receiving notifications...\n",
        subject="AWS Notification Message",
        sender="SES <no-reply@sns.amazonaws.com>",
    )
    report = read(raw)
    assert report.format == "amazon-ses"
    assert report.recipients == (
        FailedRecipient("gone@example.com", "5.1.1", "failed", "550 5.1.1 user unknown"),
    )
    assert report.original_message_id == "tkt-42.1@desk.test"
    assert report.original_to == ("gone@example.com",)


def test_dsn_fields_pasted_into_the_text_are_read() -> None:
    body = """\
An error occurred while trying to deliver the mail to the following recipients:
gone@example.com

Technical report:

Reporting-MTA: dns; a27-85.smtp-out.example.com

Action: failed
Final-Recipient: rfc822; gone@example.com
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>... User Unknown
Status: 5.1.1
"""
    report = read(text_bounce(body, subject="Delivery Status Notification (Failure)"))
    assert report.format == "dsn-text"
    assert [(r.address, r.status) for r in report.recipients] == [("gone@example.com", "5.1.1")]


def test_the_bounces_own_parties_are_not_failed_recipients() -> None:
    body = """\
Delivery to the following recipient failed permanently:

     support+bounce@desk.test

Technical details of permanent failure:
550 5.7.1 <support@desk.test>... relaying denied

----- Original message -----

"""
    raw = text_bounce(body + ORIGINAL, subject="Delivery Status Notification (Failure)")
    # The bounce's own To, and the original's sender: told of the failure, not failed.
    assert read(raw).recipients == ()


def test_the_failed_section_wins_over_other_addresses_in_the_report() -> None:
    body = """\
This message was created automatically by mail delivery software.
Questions: <postmaster@example.org>

A message that you sent could not be delivered to one or more of its
recipients. The following address(es) failed:

  gone@example.com
    550 5.1.1 User unknown
"""
    report = read(text_bounce(body))
    assert [r.address for r in report.recipients] == ["gone@example.com"]


def test_a_report_without_any_code_is_still_a_permanent_failure() -> None:
    body = """\
Your message

  Subject: [TKT-0042] Your printer

was not delivered to:

  gone@example.com

because:

  User gone (gone@example.com) not listed in Domino Directory
"""
    (rec,) = read(text_bounce(body, subject="DELIVERY FAILURE")).recipients
    assert rec.address == "gone@example.com"
    assert rec.status == "5.1.1"  # inferred from "not listed in"
    assert rec.permanent


def test_a_failed_action_is_permanent_whatever_its_code() -> None:
    """The sending system has given up: nothing will retry, so Echo stops too."""
    given_up = FailedRecipient("a@example.com", "", "failed", "451 try again later")
    assert given_up.permanent and not given_up.temporary
    expired = FailedRecipient("a@example.com", "4.4.7", "failed", "")
    assert expired.permanent and not expired.temporary
    assert FailedRecipient("a@example.com", "", "failed", "no code at all").permanent
    retrying = FailedRecipient("a@example.com", "4.2.2", "delayed", "452 mailbox full")
    assert retrying.temporary and not retrying.permanent
    delivered = FailedRecipient("a@example.com", "2.0.0", "delivered", "250 OK")
    assert not delivered.permanent and not delivered.temporary


# -- what is not a bounce, and what is not readable ----------------------------------


def test_customer_mail_names_nobody() -> None:
    assert read(make_mail()) == EMPTY
    body = "Sorry for the delay.\nMy colleague: bob@example.com\nCc: carol@example.net\n"
    raw = make_mail(body=body)
    assert read(raw) == EMPTY


def test_random_garbage_and_truncated_reports_never_raise() -> None:
    rng = random.Random(20261102)
    samples = [dsn(GONE), text_bounce(EXIM), text_bounce(QMAIL), text_bounce(OFFICE365)]
    for sample in samples:
        for cut in range(0, len(sample), 37):
            assert isinstance(read(sample[:cut]), BounceReport)
    for _ in range(200):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        assert isinstance(read(noise), BounceReport)
        assert isinstance(read(dsn(noise.decode("latin-1"))), BounceReport)


#: The phrases that open a failed section in each text format, with nobody after them.
OPENERS = """\
The following address(es) failed:
I'm afraid I wasn't able to deliver your message to the following addresses.
Sorry, we were unable to deliver your message to the following address.
Delivery to the following recipient failed permanently:
   ----- The following addresses had permanent fatal errors -----
Delivery has failed to these recipients or groups:
                   The mail system
There was an error delivering your mail to
------- Failure Reasons --------
was not delivered to:
for the following list of recipients:
"""

PATHOLOGICAL = {
    "address characters": "a" * 1_000_000,
    "half addresses": "a@" * 500_000,
    "dots after @": "a@" + "b." * 500_000,
    "angle brackets": "<" * 1_000_000,
    "dashes": "-" * 1_000_000,
    "reply codes": "550-5.1.1 " * 100_000,
    "field names": "Final-Recipient: rfc822; " * 40_000,
    "labels": ("x" * 59 + ":") * 16_000,
    "blank lines": "\n" * 1_000_000,
    "quote marks": "> " * 500_000,
    "failed sections": "The following address(es) failed:\n  a@b.example\n" * 20_000,
    "json": '{"notificationType":"Bounce"' + "[" * 500_000,
    "every opener, then stray @s": OPENERS + "x@ rcpt to:@\n" * 80_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_megabyte_of_pathological_text_is_read_in_linear_time(name: str) -> None:
    body = PATHOLOGICAL[name]
    raw = text_bounce(body, headers=f"X-Failed-Recipients: {body[:5000]}\n")
    msg = parse_message(raw)
    started = time.perf_counter()
    report = read_bounce(msg)
    assert time.perf_counter() - started < 5.0, f"{name}: not linear"
    assert len(report.recipients) <= 100


# -- corpus floors (same measures as bench/bounces.py) ---------------------------------

#: Just below what the reader reaches today, so a regression fails.
SISIMAI_FLOORS = {
    "recognised (classified bounce)": 99.0,  # 562/567
    "recipient found": 99.0,  # 564/567
    "failed-recipient count as labelled": 98.5,  # 561/567
    "exact set (+ in original To/Cc)": 92.0,  # 523/567 (forwards, anonymised addresses)
    "recipient in original_to": 91.0,  # 470/513
    "status exact (RFC 3463)": 97.0,  # 425/437
    "perm/temp agrees": 98.0,  # 559/567
}


def _bench() -> ModuleType:
    """Load bench/bounces.py, which owns how each set is measured."""
    path = REPO_ROOT / "bench" / "bounces.py"
    spec = importlib.util.spec_from_file_location("bench_bounces", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_bounces", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    corpus_dir()  # skips (or fails in CI) without the corpus
    return _bench()


def _rate(bench: ModuleType, outcomes: list[object], name: str) -> tuple[float, list[str]]:
    measure = next(m for m in bench.MEASURES if m.name == name)
    result = bench.tally(outcomes, measure)
    assert result.asked, f"{name}: nothing measured"
    return 100.0 * result.passed / result.asked, result.failing


@pytest.fixture(scope="module")
def sisimai(bench: ModuleType) -> list[object]:
    bounces, _ = bench.load_sisimai(corpus_dir())
    assert len(bounces) > 500
    return [bench.run_case(case) for case in bounces]


@pytest.mark.parametrize("name", sorted(SISIMAI_FLOORS))
def test_sisimai_floor(bench: ModuleType, sisimai: list[object], name: str) -> None:
    rate, failing = _rate(bench, sisimai, name)
    assert rate >= SISIMAI_FLOORS[name], f"{name}: {rate:.1f} % < floor; failing: {failing}"


def test_flanker_bounces_are_all_read_with_their_facts(bench: ModuleType) -> None:
    bounces, _ = bench.load_flanker(corpus_dir())
    outcomes = [bench.run_case(case) for case in bounces]
    for name in ("recipient found", "status exact (RFC 3463)", "perm/temp agrees"):
        rate, failing = _rate(bench, outcomes, name)
        assert rate == 100.0, f"flanker {name}: failing {failing}"


def test_no_false_alarm_on_auto_replies_complaints_and_ordinary_mail(bench: ModuleType) -> None:
    _, sisimai_negatives = bench.load_sisimai(corpus_dir())
    _, flanker_negatives = bench.load_flanker(corpus_dir())
    outcomes = [bench.run_case(c) for c in (*sisimai_negatives, *flanker_negatives)]
    assert len(outcomes) > 20
    alarms = [o.case.name for o in outcomes if o.report.recipients]
    assert alarms == []


def test_success_dsns_in_the_corpus_read_as_delivered(bench: ModuleType) -> None:
    outcomes = [bench.run_case(c) for c in bench.load_sisimai_delivered(corpus_dir())]
    assert outcomes
    assert all(o.report.recipients[0].action == "delivered" for o in outcomes)


def test_complaints_are_complaints_and_auto_replies_stay_auto_replies(bench: ModuleType) -> None:
    complaints = [bench.run_case(c) for c in bench.load_complaints(corpus_dir())]
    auto = [bench.run_case(c) for c in bench.load_auto_replies(corpus_dir())]
    assert len(complaints) > 15 and len(auto) >= 5
    for measure in bench.COMPLAINTS:
        result = bench.tally(complaints, measure)
        assert result.passed == result.asked, f"{measure.name}: failing {result.failing}"
    assert bench.tally(auto, bench.AUTO_REPLY).failing == []
