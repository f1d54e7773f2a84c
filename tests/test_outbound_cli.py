"""``echodesk agents``, ``reply``, ``note`` and ``outbox`` as an operator runs them."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path

from tests.support.mail import make_mail
from tests.support.relay import RecordingRelay
from tests.test_cli import Cli


def _setup(tmp_path: Path, db_url: str) -> Cli:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    mail = tmp_path / "m1.eml"
    mail.write_bytes(make_mail(message_id="m1@customer.test"))
    cli.run("ingest", str(mail))
    return cli


def test_agents_are_added_listed_and_disabled(tmp_path: Path, db_url: str) -> None:
    cli = _setup(tmp_path, db_url)
    assert cli.json("agents") == []
    assert "no agents yet" in cli.run("agents").stdout
    assert (
        "added agent bob@desk.test"
        in cli.run("agents", "add", "Bob@Desk.test", "--name", "Bob").stdout
    )
    cli.run("agents", "add", "root@desk.test", "--role", "superadmin")
    rows = cli.json("agents")
    assert [(r["email"], r["name"], r["role"], r["active"]) for r in rows] == [
        ("bob@desk.test", "Bob", "ops", True),
        ("root@desk.test", "", "superadmin", True),
    ]
    cli.run("agents", "add", "carol@desk.test", "--alias", "carol@home.test")
    assert (
        "now counts as agent bob@desk.test"
        in cli.run("agents", "alias", "bob@desk.test", "Bob.Mobile@Phone.test").stdout
    )
    aliases = {r["email"]: r["aliases"] for r in cli.json("agents")}
    assert aliases["bob@desk.test"] == ["bob.mobile@phone.test"]
    assert aliases["carol@desk.test"] == ["carol@home.test"]
    taken = cli.run("agents", "alias", "root@desk.test", "carol@home.test", ok=False)
    assert taken.returncode == 2 and "already belongs to agent carol@desk.test" in taken.stderr
    cli.run("agents", "disable", "carol@desk.test")
    cli.run("agents", "disable", "bob@desk.test")
    assert [r["active"] for r in cli.json("agents")] == [False, False, True]
    bad = cli.run("agents", "add", "not-an-address", ok=False)
    assert bad.returncode == 2 and "not a mail address" in bad.stderr
    gone = cli.run("agents", "disable", "nobody@desk.test", ok=False)
    assert gone.returncode == 2 and "no agent nobody@desk.test" in gone.stderr
    # A disabled agent can no longer reply.
    refused = cli.run("reply", "TKT-0001", "--as", "bob@desk.test", stdin=b"hi", ok=False)
    assert refused.returncode == 2 and "not an active agent" in refused.stderr


def test_reply_and_note_from_the_command_line(tmp_path: Path, db_url: str) -> None:
    cli = _setup(tmp_path, db_url)
    cli.run("agents", "add", "bob@desk.test", "--name", "Bob")
    body = tmp_path / "reply.txt"
    body.write_text("Please try again now.\n", encoding="utf-8")
    log = tmp_path / "printer.log"
    log.write_text("paper jam at 10:02\n")
    posted = json.loads(
        cli.run(
            "reply",
            "TKT-0001",
            "--as",
            "bob@desk.test",
            "--file",
            str(body),
            "--attach",
            str(log),
            "--json",
        ).stdout
    )
    assert posted["ticket"] == "TKT-0001" and posted["status"] == "pending"
    note = cli.run("note", "tkt-1", "--as", "bob@desk.test", stdin="Called them. ✓\n".encode())
    assert "note added on TKT-0001" in note.stdout
    queued = cli.json("outbox")
    assert [(r["state"], r["purpose"], r["rcpt"], r["ticket"]) for r in queued] == [
        ("queued", "reply", "alice@customer.test", "TKT-0001")
    ]
    assert cli.json("outbox", "send") == {"sent": 1, "deferred": 0, "failed": 0, "suppressed": 0}
    (eml,) = (tmp_path / "data" / "outbox").glob("*.eml")
    msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert msg["Message-ID"] == f"<{posted['message_id']}>"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["printer.log"]
    detail = json.loads(cli.run("show", "TKT-0001", "--json").stdout)
    kinds = [(m["direction"], m["trimmed_text"]) for m in detail["messages"]]
    assert kinds == [
        ("inbound", "Hello, my printer is on fire."),
        ("outbound", "Please try again now."),
        ("internal", "Called them. ✓"),
    ]
    assert cli.json("outbox", "--state", "sent")[0]["sent_at"]
    empty = cli.run("reply", "TKT-0001", "--as", "bob@desk.test", stdin=b"  \n", ok=False)
    assert empty.returncode == 2 and "empty" in empty.stderr
    missing = cli.run("reply", "TKT-0099", "--as", "bob@desk.test", stdin=b"x", ok=False)
    assert missing.returncode == 2 and "no ticket number 99" in missing.stderr
    junk = cli.run(
        "reply", "'; DROP TABLE tickets;--", "--as", "bob@desk.test", stdin=b"x", ok=False
    )
    assert junk.returncode == 2 and "not a ticket number" in junk.stderr


def test_a_failed_message_is_listed_and_retried_by_hand(tmp_path: Path, db_url: str) -> None:
    cli = _setup(tmp_path, db_url)
    cli.run("agents", "add", "bob@desk.test")
    with RecordingRelay(answers=["554 5.7.1 rejected for policy reasons"]) as relay:
        env = {"ECHODESK_RELAY": json.dumps(relay.settings())}
        cli.run("reply", "TKT-0001", "--as", "bob@desk.test", stdin=b"Hello\n", env=env)
        cli.run("outbox", "send", env=env)
        (row,) = cli.json("outbox", "--state", "failed")
        assert (row["reason"], row["attempts"]) == ("rejected", 1)
        assert row["last_error"].startswith("554 5.7.1")
        assert "queued" in cli.run("outbox", "retry", str(row["id"])).stdout
        assert json.loads(cli.run("outbox", "send", "--json", env=env).stdout)["sent"] == 1
        assert len(relay.received) == 1
    assert cli.json("outbox", "--state", "sent")[0]["id"] == row["id"]
    again = cli.run("outbox", "retry", str(row["id"]), ok=False)
    assert again.returncode == 2 and "only failed or suppressed" in again.stderr
    assert cli.run("outbox", "retry", "999", ok=False).returncode == 2
