"""Forged mail steers nothing: duplicates and loops, through the real SMTP receiver.

``echodesk serve`` runs as an operator runs it (SQLite and PostgreSQL), mail
arrives by SMTP, and what a person would see is checked: tickets, the spool
and the acknowledgements Echo writes (as .eml files: no relay is set).
"""

from __future__ import annotations

import random
import smtplib
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any

from echodesk.desk.tokens import installation_id
from echodesk.store import secrets
from echodesk.store.db import Database
from tests.support.mail import make_mail
from tests.support.serve import EchoProcess

FOREIGN_ID = "0123456789abcdef"  # another company's Echo installation


def _send(echo: EchoProcess, raw: bytes, sender: str = "someone@customer.test") -> None:
    with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
        client.sendmail(sender, ["support@desk.test"], raw)


def _settled(echo: EchoProcess, count: int, timeout: float = 90) -> list[dict[str, Any]]:
    """The spool once ``count`` rows are in it and none is waiting to be processed."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = echo.cli("spool")
        if len(rows) >= count and not any(r["state"] == "pending" for r in rows):
            return sorted(rows, key=lambda r: r["id"])
        time.sleep(0.3)
    raise AssertionError(f"spool did not settle: {rows}")


def _acks(echo: EchoProcess, data: Path, count: int, timeout: float = 60) -> list[bytes]:
    """The acknowledgements written so far, once there are ``count`` (oldest first)."""
    deadline = time.monotonic() + timeout
    files: list[Path] = []
    while time.monotonic() < deadline:
        files = sorted((data / "outbox").glob("*.eml"))
        queued = echo.cli("outbox", "--state", "queued")
        if len(files) >= count and not queued:
            return [f.read_bytes() for f in files]
        time.sleep(0.3)
    raise AssertionError(f"expected {count} acknowledgements, have {len(files)}")


def _junk(size: int, seed: int) -> bytes:
    """Random bytes in SMTP-sized lines, with no header line and no blank line."""
    data = bytes(b if b not in (10, 13) else 32 for b in random.Random(seed).randbytes(size))
    return b"\xfe" + b"\r\n".join(data[i : i + 76] for i in range(0, len(data), 76)) + b"\r\n"


def test_header_less_junk_is_not_a_copy_of_an_earlier_header_less_message(
    tmp_path: Path, db_url: str
) -> None:
    echo = EchoProcess(tmp_path, db_url).start()
    try:
        _send(echo, b"")
        _send(echo, b"Just a line of text and no headers at all.\r\n")
        _send(echo, _junk(200_000, seed=7))
        rows = _settled(echo, 3)
        # Header-less mail opens a ticket (with no customer, as Echo always did);
        # before, the second and third were dropped as copies of the empty first.
        assert [(r["state"], r["kind"]) for r in rows] == [("processed", "customer")] * 3
        assert rows[2]["size"] > 200_000
        tickets = echo.cli("tickets")
        assert len(tickets) == 3
        assert len({r["message_id"] for r in rows}) == 3
    finally:
        echo.stop()


def test_the_same_message_delivered_twice_through_other_relays_is_one_message(
    tmp_path: Path, db_url: str
) -> None:
    echo = EchoProcess(tmp_path, db_url).start()
    try:
        original = make_mail(message_id=None, body="My printer is on fire.\n")
        first = b"Received: from mx1.customer.test by desk.test; Mon, 2 Nov 2026 09:00:05\r\n"
        second = b"Received: from mx2.customer.test by desk.test; Mon, 2 Nov 2026 09:07:41\r\n"
        _send(echo, first + original, "alice@customer.test")
        _settled(echo, 1)
        _send(echo, second + original, "alice@customer.test")
        rows = _settled(echo, 2)
        assert [r["state"] for r in rows] == ["processed", "duplicate"]
        (ticket,) = echo.cli("tickets")
        assert ticket["messages"] == 1
    finally:
        echo.stop()


def _loop_header(raw: bytes) -> str:
    return str(message_from_bytes(raw)["X-Echodesk-Loop"])


def _acknowledging(tmp_path: Path, db_url: str) -> EchoProcess:
    return EchoProcess(
        tmp_path, db_url, ECHODESK_ACKNOWLEDGEMENT="We received your message as $ticket."
    ).start()


def test_mail_from_another_echo_installation_is_handled_like_any_other_mail(
    tmp_path: Path, db_url: str
) -> None:
    echo = _acknowledging(tmp_path, db_url)
    data = tmp_path / "data"
    try:
        # A company that also runs Echo writes from its desk: a customer, acknowledged.
        foreign = make_mail(
            sender="Other Desk <help@other.test>",
            subject="Your invoice 2026-17",
            message_id="echo.abc@other.test",
            headers={"X-Echodesk-Loop": f"{FOREIGN_ID}.other.test"},
        )
        _send(echo, foreign, "help@other.test")
        (row,) = _settled(echo, 1)
        assert (row["state"], row["kind"], row["ticket"]) == ("processed", "customer", "TKT-0001")
        (ack,) = _acks(echo, data, 1)
        assert message_from_bytes(ack)["X-Envelope-To"] == "<help@other.test>"

        # Their desk answers our acknowledgement on its own (RFC 3834): kept on the
        # ticket, never answered.
        their_auto_reply = make_mail(
            sender="Other Desk <help@other.test>",
            subject="Re: Your invoice 2026-17 [TKT-0001]",
            message_id="echo.def@other.test",
            in_reply_to=str(message_from_bytes(ack)["Message-ID"]).strip("<>"),
            headers={
                "X-Echodesk-Loop": f"{FOREIGN_ID}.other.test",
                "Auto-Submitted": "auto-replied",
            },
        )
        _send(echo, their_auto_reply, "help@other.test")
        rows = _settled(echo, 2)
        assert (rows[1]["state"], rows[1]["kind"], rows[1]["ticket"]) == (
            "processed",
            "auto-reply",
            "TKT-0001",
        )
        (ticket,) = echo.cli("tickets")
        assert ticket["messages"] == 3  # their mail, our acknowledgement, their auto-reply
        # Acknowledgements are queued as the mail is processed: one, for the first mail.
        assert [r["purpose"] for r in echo.cli("outbox")] == ["ack"]
    finally:
        echo.stop()


def test_mail_carrying_this_installations_own_id_is_a_loop(tmp_path: Path, db_url: str) -> None:
    echo = _acknowledging(tmp_path, db_url)
    data = tmp_path / "data"
    try:
        _send(echo, make_mail(message_id="alice1@customer.test"), "alice@customer.test")
        (ours,) = _acks(echo, data, 1)
        # The acknowledgement carries this installation's id, derived from its secret
        # (kept in the database: the first generation).
        own_marker = _loop_header(ours)
        db = Database(db_url)
        secret = secrets.load(db)[0].value
        db.dispose()
        assert own_marker == f"{installation_id(secret)}.desk.test"

        # Echo's own mail come back under another From (a forwarder): a loop, no ticket.
        came_back = make_mail(
            sender="Forwarder <fwd@customer.test>",
            subject="Fwd: Re: Printer on fire [TKT-0001]",
            message_id="fwd1@customer.test",
            headers={"X-Echodesk-Loop": own_marker},
        )
        _send(echo, came_back, "fwd@customer.test")
        rows = _settled(echo, 2)
        assert (rows[1]["kind"], rows[1]["ticket"]) == ("loop", None)
        assert len(echo.cli("tickets")) == 1
        assert len(echo.cli("outbox")) == 1  # nothing sent back
    finally:
        echo.stop()
