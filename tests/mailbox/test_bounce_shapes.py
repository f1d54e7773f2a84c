"""Bounce shapes that older and large-provider mail systems write, read and classified.

Each message is built here in the shape the mail system writes it: free-text
notices without any DSN part, bounces that also carry auto-reply headers,
Exchange's address tags, contact lines, aliases, queues that gave up. For each
the test asks what a user of the desk would see: is it a bounce (never
answered, never a ticket), whom does it mark as bounced, and for good or not.
"""

from __future__ import annotations

import pytest

from echodesk.mailbox.bounce import BounceReport, read_bounce
from echodesk.mailbox.classify import Kind, classify
from echodesk.mailbox.parse import parse_message
from tests.support.mail import make_mail

ORIGINAL_HEADERS = """\
Return-Path: <bounces+17-0123456789ab@desk.test>
Message-ID: <tkt-7.2@desk.test>
Date: Mon, 02 Nov 2026 09:00:00 +0000
From: Echo Support <support@desk.test>
To: Gone Customer <gone@example.com>
Subject: [TKT-0007] Your invoice
"""


def message(headers: str, body: str) -> bytes:
    """A one-part text message from its header lines and body (LF line endings)."""
    return (
        f"{headers}MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n{body}".encode()
    )


def read(raw: bytes) -> BounceReport:
    return read_bounce(parse_message(raw), ("support@desk.test",))


def kind(raw: bytes) -> Kind:
    return classify(parse_message(raw), ("support@desk.test",)).kind


def failed(raw: bytes) -> list[tuple[str, bool]]:
    """(address, permanent) of every failed recipient the report names."""
    return [(r.address, r.permanent) for r in read(raw).recipients]


# -- free-text notices of older and large-provider systems ------------------------------

AOL = message(
    """\
Return-Path: <>
From: Mail Delivery Subsystem <MAILER-DAEMON@aol.example>
To: bounces+17-0123456789ab@desk.test
Subject: Mail Delivery Problem
Message-ID: <aol-1@aol.example>
""",
    f"""\
Your mail to the following recipients could not be delivered because they are not
accepting mail from support@desk.test:
\tgonecustomer

----- Original message -----
{ORIGINAL_HEADERS}
Your invoice is attached.
""",
)

YAHOO = message(
    """\
From: MAILER-DAEMON@yahoo.example
To: bounces+17-0123456789ab@desk.test
Subject: Failure Notice
Message-ID: <yahoo-1@yahoo.example>
""",
    f"""\
Message from yahoo.example.
Unable to deliver message to the following address(es).

<gone@example.com>:
554 delivery error: dd This user doesn't have a yahoo.example account (gone@example.com)

--- Original message follows.

{ORIGINAL_HEADERS}
""",
)

SENDMAIL_SIMPLE = message(
    """\
Return-Path: <MAILER-DAEMON@mx.example.com>
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: bounces+17-0123456789ab@desk.test
Subject: Returned mail: Cannot send message for 5 days
Message-ID: <sm-1@mx.example.com>
""",
    f"""\
421 example.com (smtp)... Deferred: Connection timed out during user open with example.com

{ORIGINAL_HEADERS}
Your invoice is attached.
""",
)

EXIM_SIMPLE = message(
    """\
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: bounces+17-0123456789ab@desk.test
Subject: Mail delivery failed: returning message to sender
Message-ID: <exim-1@mx.example.net>
""",
    """\
This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@example.com
    Unrouteable address

------ This is a copy of the message, including all the headers. ------

"""
    + ORIGINAL_HEADERS,
)


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        (AOL, "gone@example.com"),  # names a screen name only: the returned original says who
        (YAHOO, "gone@example.com"),
        (SENDMAIL_SIMPLE, "gone@example.com"),  # a bare "Deferred" line above the original
        (EXIM_SIMPLE, "gone@example.com"),
    ],
    ids=["aol", "yahoo", "sendmail-simple", "exim-simple"],
)
def test_free_text_notices_are_bounces_naming_the_failed_address(raw: bytes, address: str) -> None:
    assert kind(raw) is Kind.BOUNCE
    assert failed(raw) == [(address, True)]
    assert read(raw).original_message_id == "tkt-7.2@desk.test"


def test_a_mail_systems_notice_guesses_nobody_when_the_original_went_to_several() -> None:
    several = ORIGINAL_HEADERS.replace(
        "To: Gone Customer <gone@example.com>", "To: gone@example.com, other@example.org"
    )
    raw = SENDMAIL_SIMPLE.replace(ORIGINAL_HEADERS.encode(), several.encode())
    assert read(raw).recipients == ()


def test_a_person_quoting_a_message_is_not_taken_for_a_notice() -> None:
    raw = message(
        "From: Alice <alice@customer.test>\nTo: support@desk.test\nSubject: Re: invoice\n",
        f"My colleague never got this, could not be delivered?\n\n{ORIGINAL_HEADERS}\n",
    )
    assert kind(raw) is Kind.CUSTOMER
    assert read(raw).recipients == ()


# -- bounces that carry auto-reply headers -----------------------------------------------

PROVIDER_BOUNCE = (
    """\
Sorry, we were unable to deliver your message to the following address.

<gone@example.com>:
Remote host said: 550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown

--- Below this line is a copy of the message.

"""
    + ORIGINAL_HEADERS
)


@pytest.mark.parametrize(
    "header",
    ["Precedence: bulk", "X-Autogenerated: Reply", "Auto-Submitted: auto-replied"],
)
def test_a_bounce_with_auto_reply_headers_is_a_bounce(header: str) -> None:
    raw = message(
        f"From: Mail Notifications <notify@provider.example>\n{header}\n"
        "To: bounces+17-0123456789ab@desk.test\nSubject: Message status\n"
        "Message-ID: <b-1@provider.example>\n",
        PROVIDER_BOUNCE,
    )
    assert kind(raw) is Kind.BOUNCE
    assert failed(raw) == [("gone@example.com", True)]


@pytest.mark.parametrize(
    "headers",
    [{"Precedence": "bulk"}, {"X-Autogenerated": "Reply"}, {"Auto-Submitted": "auto-replied"}],
)
def test_an_out_of_office_with_the_same_headers_stays_an_auto_reply(
    headers: dict[str, str],
) -> None:
    raw = make_mail(
        subject="Away until Monday",
        body="I am out of the office. For urgent matters write to bob@customer.test.\n",
        headers=headers,
    )
    assert kind(raw) is Kind.AUTO_REPLY


# -- reading the DSN fields --------------------------------------------------------------


def dsn(fields: str) -> bytes:
    """A multipart/report DSN with the given per-recipient fields."""
    return f"""\
From: Microsoft Outlook <postmaster@outlook.example>
To: bounces+17-0123456789ab@desk.test
Subject: Undeliverable: [TKT-0007] Your invoice
Message-ID: <ndr-1@outlook.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="nb"

--nb
Content-Type: text/plain

Your message couldn't be delivered.

--nb
Content-Type: message/delivery-status

Reporting-MTA: dns;mx.outlook.example

{fields}
--nb
Content-Type: text/rfc822-headers

{ORIGINAL_HEADERS}
--nb--
""".encode()


def test_exchanges_smtp_tag_is_not_part_of_the_address() -> None:
    raw = dsn(
        "Original-Recipient: rfc822;smtp=Gone@Example.com\n"
        "Final-Recipient: rfc822;smtp=Gone@Example.com\nAction: failed\nStatus: 5.1.10\n"
    )
    assert failed(raw) == [("gone@example.com", True)]


def test_exchanges_smtp_tag_in_a_text_notice_is_dropped_too() -> None:
    raw = message(
        "From: postmaster@outlook.example\nTo: bounces+17-0123456789ab@desk.test\n"
        "Subject: Undeliverable: [TKT-0007] Your invoice\n",
        "Delivery has failed to these recipients or groups:\n\n"
        "smtp=gone@example.com\nThe email address you entered couldn't be found.\n",
    )
    assert failed(raw) == [("gone@example.com", True)]


def test_a_system_contact_line_is_not_a_failed_recipient() -> None:
    raw = message(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\n"
        "To: bounces+17-0123456789ab@desk.test\nSubject: Delivery Notification: failed\n",
        """\
This report relates to a message you sent with the following header fields:

  Subject: [TKT-0007] Your invoice

Your message cannot be delivered to the following recipients:

  Recipient address: gone@example.com
  Reason: Remote SMTP server has rejected address
  Diagnostic code: smtp;550 5.1.1 unknown user

System Contact: postmaster@mx.example.org
Administrator: hostmaster@example.org
""",
    )
    assert failed(raw) == [("gone@example.com", True)]


def test_original_recipient_is_preferred_to_final_recipient() -> None:
    """The address Echo wrote to, not the mailbox an alias or forward turned it into."""
    raw = dsn(
        "Original-Recipient: rfc822;gone@example.com\n"
        "Final-Recipient: rfc822;g.one@mailstore.example.net\nAction: failed\nStatus: 5.2.1\n\n"
        "Final-Recipient: rfc822;second@example.com\n"
        "Original-Recipient: rfc822;second-alias@example.com\nAction: failed\nStatus: 5.1.1\n"
    )
    assert failed(raw) == [("gone@example.com", True), ("second-alias@example.com", True)]


def test_a_garbled_original_recipient_falls_back_to_final_recipient() -> None:
    raw = dsn(
        "Original-Recipient: rfc822;<>\n"
        "Final-Recipient: rfc822;gone@example.com\nAction: failed\nStatus: 5.1.1\n"
    )
    assert failed(raw) == [("gone@example.com", True)]


def test_action_failed_with_a_4xx_status_is_permanent() -> None:
    """The queue gave up (4.4.7 expired): nothing will retry the message."""
    raw = dsn(
        "Final-Recipient: rfc822;gone@example.com\nAction: failed\nStatus: 4.4.7\n"
        "Diagnostic-Code: smtp; 421 4.4.7 Retry timeout exceeded\n"
    )
    (rec,) = read(raw).recipients
    assert (rec.status, rec.permanent, rec.temporary) == ("4.4.7", True, False)
    delay = dsn("Final-Recipient: rfc822;slow@example.com\nAction: delayed\nStatus: 4.4.7\n")
    (rec,) = read(delay).recipients
    assert (rec.permanent, rec.temporary) == (False, True)
