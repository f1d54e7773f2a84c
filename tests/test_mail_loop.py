"""Echo facing an auto-responder: the exchange stops by itself.

Both sides are real and on loopback: ``echodesk serve`` (SMTP receiver,
worker, sender) sends its acknowledgements through a real relay, and the
relay's "customer" answers every message it receives by SMTP back to
Echo's receiver. The worst responder drops every threading header and every
auto-submitted marker, so each answer opens a new ticket; the per-address
limit must end it. A well-behaved responder (RFC 3834) ends it at once.
"""

from __future__ import annotations

import itertools
import json
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from tests.support.mail import make_dsn, make_mail
from tests.support.relay import Received, RecordingRelay
from tests.support.serve import EchoProcess

_counter = itertools.count(1)


def _responder(echo_port: Callable[[], int], polite: bool) -> Callable[[Received], None]:
    def answer(got: Received) -> None:
        original = got.message()
        reply = EmailMessage()
        reply["From"] = got.rcpt[0]
        reply["To"] = "support@desk.test"
        n = next(_counter)
        reply["Message-ID"] = f"<auto{n}@customer.test>"
        if polite:
            reply["Subject"] = f"Out of office: {original['Subject']}"
            reply["Auto-Submitted"] = "auto-replied"
            reply["In-Reply-To"] = original["Message-ID"]
        else:
            reply["Subject"] = f"Thank you for your message ({n})"
        reply.set_content("I am away and read mail rarely.\n")
        with smtplib.SMTP("127.0.0.1", echo_port(), timeout=30) as client:
            client.sendmail(got.rcpt[0], ["support@desk.test"], reply.as_bytes(policy=SMTP))

    return answer


def _quiet(relay: RecordingRelay, echo: EchoProcess, settle: float = 4.0) -> int:
    """Wait until the relay has received nothing new for ``settle`` seconds."""
    deadline = time.monotonic() + 90
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(relay.received)
        pending = echo.cli("spool", "--state", "pending")
        queued = echo.cli("outbox", "--state", "queued")
        if now != count or pending or queued:
            count, since = now, time.monotonic()
        elif time.monotonic() - since > settle:
            return count
        time.sleep(0.3)
    raise AssertionError("the exchange did not stop")


def _run(tmp_path: Path, db_url: str, polite: bool) -> tuple[int, int]:
    holder: list[EchoProcess] = []
    with RecordingRelay(on_message=_responder(lambda: holder[0].port, polite)) as relay:
        echo = EchoProcess(
            tmp_path,
            db_url,
            ECHODESK_RELAY=json.dumps(relay.settings()),
            ECHODESK_ACKNOWLEDGEMENT="We received your message as $ticket.",
            ECHODESK_ACKNOWLEDGEMENT_LIMIT="3",
        )
        holder.append(echo)
        echo.start()
        try:
            with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
                client.sendmail(
                    "alice@customer.test",
                    ["support@desk.test"],
                    make_mail(message_id="start@customer.test"),
                )
            sent = _quiet(relay, echo)
            tickets = len(echo.cli("tickets"))
        finally:
            echo.stop()
    return sent, tickets


def test_a_responder_that_answers_everything_is_stopped_by_the_limit(
    tmp_path: Path, db_url: str
) -> None:
    sent, tickets = _run(tmp_path, db_url, polite=False)
    # Three acknowledgements (the limit), then the fourth ticket gets none.
    assert sent == 3
    assert tickets == 4


def test_an_rfc3834_responder_gets_nothing_back(tmp_path: Path, db_url: str) -> None:
    sent, tickets = _run(tmp_path, db_url, polite=True)
    assert sent == 1  # the acknowledgement of the first message, and nothing after it
    assert tickets == 1


def test_a_bounce_sent_by_smtp_to_the_verp_address_silences_the_customer(
    tmp_path: Path, db_url: str
) -> None:
    with RecordingRelay() as relay:
        echo = EchoProcess(
            tmp_path,
            db_url,
            ECHODESK_RELAY=json.dumps(relay.settings()),
            ECHODESK_ACKNOWLEDGEMENT="We received your message as $ticket.",
        ).start()
        try:
            with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
                client.sendmail(
                    "alice@customer.test",
                    ["support@desk.test"],
                    make_mail(message_id="start@customer.test"),
                )
            (ack,) = relay.wait_for(1)
            dsn = make_dsn(failed="alice@customer.test", to=ack.mail_from)
            with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
                client.sendmail("", [ack.mail_from], dsn)  # MAIL FROM:<>, as bounces come
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = echo.cli("outbox")
                if rows and rows[0]["state"] == "failed":
                    break
                time.sleep(0.3)
            assert (rows[0]["state"], rows[0]["reason"]) == ("failed", "bounced")
            assert len(echo.cli("tickets")) == 1
            spool = echo.cli("spool")
            assert [r["kind"] for r in spool] == ["customer", "bounce"]
        finally:
            echo.stop()
