"""The senders against a real SMTP server: what is permanent, what is retried."""

from __future__ import annotations

from pathlib import Path

from echodesk.config import RelaySettings
from echodesk.mailbox.send import EmlFileSender, SmtpRelaySender
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.relay import RecordingRelay

RAW = make_mail(message_id="out1@desk.test", sender="support@desk.test", to="a@customer.test")


def test_one_connection_carries_a_batch_and_refusals_are_told_apart() -> None:
    refuse = {
        "gone@customer.test": "550 5.1.1 no such user",
        "full@customer.test": "452 4.2.2 full",
    }
    with RecordingRelay(refuse=refuse) as relay:
        sender = SmtpRelaySender(RelaySettings(host="127.0.0.1", port=relay.port))
        ok = sender.send("bounces+1-x@desk.test", "a@customer.test", RAW)
        gone = sender.send("bounces+2-x@desk.test", "gone@customer.test", RAW)
        full = sender.send("bounces+3-x@desk.test", "full@customer.test", RAW)
        again = sender.send("bounces+4-x@desk.test", "b@customer.test", RAW)
        sender.close()
        got = relay.received
    assert ok.ok and again.ok
    assert (gone.ok, gone.permanent, gone.code) == (False, True, 550)
    assert (full.ok, full.permanent, full.code) == (False, False, 452)
    assert gone.detail.startswith("550 5.1.1")
    assert [(r.mail_from, r.rcpt) for r in got] == [
        ("bounces+1-x@desk.test", ("a@customer.test",)),
        ("bounces+4-x@desk.test", ("b@customer.test",)),
    ]
    assert got[0].data.replace(b"\r\n", b"\n").rstrip() == RAW.replace(b"\r\n", b"\n").rstrip()


def test_starttls_is_required_when_configured_never_plain_text() -> None:
    with RecordingRelay() as relay:  # offers no STARTTLS
        settings = RelaySettings(host="127.0.0.1", port=relay.port, starttls=True)
        result = SmtpRelaySender(settings).send("b@desk.test", "a@customer.test", RAW)
        assert relay.received == []
    assert not result.ok and not result.permanent
    assert "STARTTLS" in result.detail


def test_a_relay_that_is_down_is_a_temporary_failure() -> None:
    sender = SmtpRelaySender(RelaySettings(host="127.0.0.1", port=free_port(), timeout=5))
    result = sender.send("b@desk.test", "a@customer.test", RAW)
    assert not result.ok and not result.permanent and "relay 127.0.0.1" in result.detail


def test_eml_files_carry_the_envelope_and_an_unwritable_folder_is_retried(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "outbox"
    result = EmlFileSender(folder).send("bounces+9-x@desk.test", "a@customer.test", RAW)
    assert result.ok
    (path,) = folder.glob("*.eml")
    data = path.read_bytes()
    assert data.startswith(
        b"Return-Path: <bounces+9-x@desk.test>\r\nX-Envelope-To: <a@customer.test>"
    )
    assert data.endswith(RAW)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    failed = EmlFileSender(blocked / "outbox").send("b@desk.test", "a@customer.test", RAW)
    assert not failed.ok and not failed.permanent
