"""Recovering the original sender, subject and text of a forwarded message."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from echodesk.mailbox.forward import recover_forward, without_forward_prefix
from echodesk.mailbox.parse import parse_message

GMAIL = """#forward

---------- Forwarded message ---------
From: Alice Customer <alice@customer.test>
Date: Mon, Nov 2, 2026 at 9:00 AM
Subject: Printer on fire
To: Bob <bob@desk.test>

Hello, my printer is on fire.
"""

OUTLOOK = """#forward

________________________________
-----Original Message-----
From: Alice Customer [mailto:alice@customer.test]
Sent: Monday, November 2, 2026 9:00 AM
To: Bob Agent
Subject: Printer on fire

Hello, my printer is on fire.
"""

APPLE = """#forward

Begin forwarded message:

> From: Alice Customer <alice@customer.test>
> Subject: Printer on fire
> Date: 2 November 2026 at 09:00:00 CET
> To: bob@desk.test
>
> Hello, my printer is on fire.
"""

GERMAN = """#forward

-------- Weitergeleitete Nachricht --------
Betreff: Printer on fire
Datum: Mon, 2 Nov 2026 09:00:00 +0100
Von: Alice Customer <alice@customer.test>
An: bob@desk.test

Hello, my printer is on fire.
"""


@pytest.mark.parametrize(
    "body", [GMAIL, OUTLOOK, APPLE, GERMAN], ids=["gmail", "outlook", "apple", "thunderbird-de"]
)
def test_inline_forwards_of_the_common_clients(body: str) -> None:
    raw = (
        "From: Bob <bob@desk.test>\r\nTo: support@desk.test\r\nSubject: Fwd: Printer on fire\r\n"
        "\r\n" + body.replace("\n", "\r\n")
    ).encode()
    msg = parse_message(raw)
    found = recover_forward(msg, msg.text)
    assert found is not None
    assert (found.sender.name, found.sender.key) == ("Alice Customer", "alice@customer.test")
    assert found.subject == "Printer on fire"
    assert found.text.replace("\r\n", "\n").strip() == "Hello, my printer is on fire."


def test_an_attached_original_wins_and_keeps_its_message_id() -> None:
    inner = EmailMessage()
    inner["From"] = "Zoë <zoe@customer.test>"
    inner["To"] = "bob@desk.test"
    inner["Subject"] = "Rechnung falsch"
    inner["Message-ID"] = "<orig1@customer.test>"
    inner.set_content("Die Rechnung ist falsch.\n")
    outer = EmailMessage()
    outer["From"] = "Bob <bob@desk.test>"
    outer["To"] = "support@desk.test"
    outer["Subject"] = "Fwd: Rechnung falsch"
    outer.set_content("#forward\n")
    outer.add_attachment(inner)
    msg = parse_message(outer.as_bytes(policy=SMTP))
    found = recover_forward(msg, msg.text)
    assert found is not None
    assert found.sender.key == "zoe@customer.test" and found.message_id == "orig1@customer.test"
    assert found.text.strip() == "Die Rechnung ist falsch."


def test_no_forward_no_result() -> None:
    msg = parse_message(b"From: bob@desk.test\r\nSubject: x\r\n\r\n#forward\r\nJust text.\r\n")
    assert recover_forward(msg, msg.text) is None


def test_forward_prefixes_are_dropped() -> None:
    assert without_forward_prefix("Fwd: WG: TR: Printer") == "Printer"
    assert without_forward_prefix("FW: Re: Printer") == "Re: Printer"
