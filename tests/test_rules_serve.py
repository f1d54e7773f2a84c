"""The running service and its rules file: edits and SIGHUP reload it; errors never stop it."""

from __future__ import annotations

import signal
import smtplib
import time
from pathlib import Path

from tests.support.mail import make_mail
from tests.support.serve import EchoProcess


def _send(echo: EchoProcess, mid: str) -> None:
    with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
        client.sendmail("alice@customer.test", ["support@desk.test"], make_mail(message_id=mid))


def _tags(echo: EchoProcess, count: int) -> list[list[str]]:
    tickets = echo.wait_for_tickets(count)
    return [t["tags"] for t in tickets]


def test_sighup_reloads_the_rules_and_a_broken_file_is_survived(
    tmp_path: Path, db_url: str
) -> None:
    rules = tmp_path / "rules.yaml"  # beside the settings file EchoProcess writes
    rules.write_text("- name: A\n  if: {always: true}\n  then: [{tag: first}]\n")
    echo = EchoProcess(tmp_path, db_url).start()
    try:
        _send(echo, "m1@customer.test")
        assert _tags(echo, 1) == [["first"]]
        rules.write_text("- name: B\n  if: {always: true}\n  then: [{tag: second}]\n")
        assert echo.proc is not None
        echo.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert echo.proc.poll() is None  # SIGHUP reloads; it does not stop the service
        _send(echo, "m2@customer.test")
        assert _tags(echo, 2)[1] == ["second"]
        rules.write_text("- name: C\n  if: {nonsense: true}\n  then: [{tag: third}]\n")
        echo.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        _send(echo, "m3@customer.test")
        assert _tags(echo, 3)[2] == ["second"]  # the last good rules stay in force
        assert echo.proc.poll() is None
    finally:
        echo.stop()
    assert "last good rules stay in force" in echo.log.read_text()
