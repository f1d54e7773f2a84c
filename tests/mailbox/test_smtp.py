"""The SMTP receiver, started by the real ``echodesk serve``, driven by real clients."""

from __future__ import annotations

import json
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.mailbox.smtp import RecipientPolicy
from tests.support.mail import make_mail
from tests.support.postgres import PgCluster, start_cluster
from tests.support.serve import EchoProcess


@pytest.fixture
def echo(tmp_path: Path, db_url: str) -> Iterator[EchoProcess]:
    server = EchoProcess(tmp_path, db_url).start()
    try:
        yield server
    finally:
        server.stop()


def _send(
    port: int, raw: bytes, rcpt: str = "support@desk.test", sender: str = "alice@customer.test"
) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(sender, [rcpt], raw)


def test_smtplib_and_swaks_deliver_to_tickets(echo: EchoProcess) -> None:
    _send(echo.port, make_mail(message_id="smtplib@customer.test", subject="Via smtplib"))
    swaks = shutil.which("swaks")
    assert swaks, "swaks is needed (scripts/test installs it)"
    out = subprocess.run(
        [
            swaks,
            "--server",
            f"127.0.0.1:{echo.port}",
            "--from",
            "bob@customer.test",
            "--to",
            "support+billing@desk.test",
            "--header",
            "Subject: Via swaks",
            "--body",
            "Hello from swaks",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 OK queued as" in out.stdout
    tickets = echo.wait_for_tickets(2)
    assert sorted(t["subject"] for t in tickets) == ["Via smtplib", "Via swaks"]
    rows = echo.cli("spool")
    assert {r["source"] for r in rows} == {"smtp"}


def test_foreign_recipients_are_refused_at_rcpt(echo: EchoProcess) -> None:
    with smtplib.SMTP("127.0.0.1", echo.port, timeout=30) as client:
        client.ehlo()
        client.mail("mallory@evil.test")
        code, message = client.rcpt("victim@elsewhere.test")
        assert code == 550 and b"5.1.1" in message
        code, _ = client.rcpt("sales@desk.test")  # not served: only the support address
        assert code == 550
        code, _ = client.rcpt("postmaster@desk.test")
        assert code == 250
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(echo.port, make_mail(message_id="relay@evil.test"), rcpt="x@elsewhere.test")
    assert echo.cli("spool") == []


def test_oversized_mail_gets_552_and_the_limit_is_announced(tmp_path: Path) -> None:
    server = EchoProcess(tmp_path, ECHODESK_MAX_MESSAGE_SIZE="20000").start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            assert client.esmtp_features.get("size") == "20000"
            big = make_mail(message_id="big@customer.test", body="x" * 30000 + "\n")
            with pytest.raises(smtplib.SMTPResponseException) as refused:
                client.sendmail("alice@customer.test", ["support@desk.test"], big)
            assert refused.value.smtp_code == 552
        assert server.cli("spool") == []
    finally:
        server.stop()


def test_fifty_concurrent_clients_send_five_hundred_messages(echo: EchoProcess) -> None:
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", echo.port, timeout=60) as smtp:
                for i in range(10):
                    raw = make_mail(
                        message_id=f"c{n}m{i}@customer.test",
                        subject=f"{n}/{i}",
                        sender=f"c{n}@customer.test",
                    )
                    smtp.sendmail(f"c{n}@customer.test", ["support@desk.test"], raw)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tickets = echo.wait_for_tickets(500, timeout=180)
    assert len(tickets) == 500
    assert len({t["subject"] for t in tickets}) == 500


def test_a_client_that_disconnects_mid_data_leaves_nothing(echo: EchoProcess) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        for line in (
            b"EHLO test",
            b"MAIL FROM:<a@customer.test>",
            b"RCPT TO:<support@desk.test>",
            b"DATA",
        ):
            sock.recv(4096)
            sock.sendall(line + b"\r\n")
        sock.recv(4096)
        sock.sendall(b"Subject: half\r\n\r\nthis message never ends")
    time.sleep(0.5)
    _send(echo.port, make_mail(message_id="after@customer.test"))  # the server is fine
    echo.wait_for_tickets(1)
    assert [r["message_id"] for r in echo.cli("spool")] == ["after@customer.test"]


def test_an_idle_client_is_dropped_without_holding_up_others(tmp_path: Path) -> None:
    server = EchoProcess(tmp_path, ECHODESK_SMTP_TIMEOUT="1").start()
    try:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle.recv(4096)  # the greeting; then say nothing
        _send(server.port, make_mail(message_id="busy@customer.test"))
        time.sleep(2.5)
        idle.settimeout(5)
        leftover = idle.recv(4096)
        assert leftover == b"" or leftover.startswith(b"421")
        idle.close()
        assert len(server.wait_for_tickets(1)) == 1
    finally:
        server.stop()


def test_starttls_when_a_certificate_is_configured(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    server = EchoProcess(
        tmp_path, ECHODESK_SMTP_TLS_CERT=str(cert), ECHODESK_SMTP_TLS_KEY=str(key)
    ).start()
    try:
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            client.sendmail(
                "alice@customer.test",
                ["support@desk.test"],
                make_mail(message_id="tls@customer.test"),
            )
        assert len(server.wait_for_tickets(1)) == 1
    finally:
        server.stop()


def test_451_while_the_database_is_down_and_250_when_it_is_back(tmp_path: Path) -> None:
    cluster: PgCluster = start_cluster()  # its own cluster: this test stops it
    try:
        url = cluster.create_database("smtp451")
        server = EchoProcess(tmp_path, url)
        server.start()
        try:
            cluster.pause()
            with pytest.raises(smtplib.SMTPDataError) as failed:
                _send(server.port, make_mail(message_id="down@customer.test"))
            assert failed.value.smtp_code == 451 and b"4.3.0" in failed.value.smtp_error
            cluster.resume()
            _send(server.port, make_mail(message_id="up@customer.test"))
            tickets = server.wait_for_tickets(1)
            assert [t["subject"] for t in tickets] == ["Printer on fire"]
            assert [r["message_id"] for r in server.cli("spool")] == ["up@customer.test"]
        finally:
            server.stop()
    finally:
        cluster.stop()


@pytest.mark.parametrize(
    ("recipient", "accepted"),
    [
        ("support@desk.test", True),
        ("SUPPORT@Desk.Test", True),
        ("<support@desk.test>", True),
        ("support+TKT-0042@desk.test", True),
        ("postmaster@desk.test", True),
        ("postmaster@other.test", False),
        ("sales@desk.test", False),
        ("anyone@served.test", True),
        ("support@desk.test.evil.test", False),
        ("support", False),
        ("@desk.test", False),
    ],
)
def test_recipient_policy(recipient: str, accepted: bool) -> None:
    policy = RecipientPolicy(
        addresses=frozenset({"support@desk.test"}),
        catch_all_domains=frozenset({"served.test"}),
        postmaster_domains=frozenset({"desk.test", "served.test"}),
    )
    assert policy.accepts(recipient) is accepted


def test_the_bounce_address_of_outgoing_mail_is_accepted() -> None:
    from echodesk.config import Settings
    from echodesk.mailbox.smtp import policy_for

    policy = policy_for(Settings(support_address="support@desk.test"))
    assert policy.accepts("bounces+42-abcdefghijkl@desk.test")
    assert policy.accepts("support+t-1-abcdefghijkl@desk.test")
    assert not policy.accepts("bounces+42-abcdefghijkl@elsewhere.test")
    assert not policy.accepts("sales@desk.test")


def test_sigkill_while_a_client_streams_loses_and_doubles_nothing(
    tmp_path: Path, db_url: str
) -> None:
    server = EchoProcess(tmp_path, db_url).start()
    acked: list[str] = []
    attempted: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        try:
            with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    mid = f"crash{i}@customer.test"
                    attempted.append(mid)
                    sender = f"customer{i}@customer.test"  # one each: no flood quarantine
                    client.sendmail(
                        sender,
                        ["support@desk.test"],
                        make_mail(message_id=mid, subject=f"Crash {i}", sender=sender),
                    )
                    acked.append(mid)
        except (smtplib.SMTPException, OSError):
            return  # the server died under us: exactly the point

    sender = threading.Thread(target=stream)
    sender.start()
    deadline = time.monotonic() + 60
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL: no clean-up of any kind
    stop.set()
    sender.join(timeout=60)
    assert len(acked) >= 40

    server.start()  # the restarted worker processes whatever was spooled
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            spool = server.cli("spool")
            if spool and all(r["state"] == "processed" for r in spool):
                break
            time.sleep(0.3)
        stored = [m["message_id"] for t in _shown(server) for m in t["messages"]]
    finally:
        server.stop()
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert set(acked) <= set(stored), "a message that got 250 is missing"
    assert set(stored) <= set(attempted)
    assert len(stored) - len(acked) <= 1  # at most the one in flight when the server died
    assert {r["state"] for r in spool} == {"processed"} and len(spool) == len(stored)


def _shown(server: EchoProcess) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "echodesk.cli", "show", "--all", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_serve_logs_each_message_and_reports_the_spool(tmp_path: Path) -> None:
    server = EchoProcess(tmp_path, ECHODESK_SPOOL_REPORT_SECONDS="1").start()
    try:
        _send(
            server.port, make_mail(message_id="logged@customer.test", body="a secret body line\n")
        )
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.ehlo()
            client.mail("mallory@evil.test")
            client.rcpt("victim@elsewhere.test")
        server.wait_for_tickets(1)
        time.sleep(1.5)
    finally:
        server.stop()
    log = server.log.read_text()
    line = "message spool=1 id=<logged@customer.test> kind=customer ticket=#1 new ticket"
    assert next(row for row in log.splitlines() if "spool=1 " in row).endswith(line)
    assert "smtp received" not in log  # one line per message, from the worker
    assert "smtp rejected recipient peer=127.0.0.1 mail_from=mallory@evil.test" in log
    assert "spool: 0 pending, 0 failed" in log
    assert "secret body" not in log
