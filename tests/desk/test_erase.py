"""Erasing a person: nothing of them is left in the database's bytes or the data folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.desk.privacy.erase import erase
from echodesk.store.models import AuditLog, Customer, Message
from echodesk.store.search import search
from tests.support.desk import Desk
from tests.support.mail import make_mail

ADDRESS = "alice.zebrafinch@customer.test"
NAME = "Alice Zebrafinch"
PHRASE = "quixotic marmalade ledger"
FILE_BYTES = b"PASSPORT-ZQX-7781"
SECRETS = [
    ADDRESS.encode(),
    b"Zebrafinch",
    b"quixotic marmalade",
    FILE_BYTES,
    b"zebrafinch-passport",
]


def _with_passport() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{NAME} <{ADDRESS}>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "My quixotic marmalade ledger problem"
    msg["Message-ID"] = "<a1@customer.test>"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg.set_content(f"Hello,\n\nmy {PHRASE} is gone; my passport is attached.\n\n{NAME}\n")
    msg.add_attachment(
        FILE_BYTES * 100, maintype="application", subtype="pdf", filename="zebrafinch-passport.pdf"
    )
    return msg.as_bytes()


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", flood_limit=0)
    d.add_agent("bob@desk.test", "Bob Agent")
    d.deliver(_with_passport())
    d.deliver(
        make_mail(
            message_id="a2@customer.test",
            sender=f"{NAME} <{ADDRESS}>",
            subject="Re: My quixotic marmalade ledger problem",
            in_reply_to="a1@customer.test",
            body=f"Any news about my {PHRASE}?\n",
            minutes=5,
        )
    )
    d.reply(1, f"Dear {NAME}, we are looking at your quixotic marmalade ledger.\n")
    d.note(1, f"Internal: {NAME} called about the quixotic marmalade ledger.")
    d.send_outbox()  # the reply and the notifications are written as .eml files
    # Someone else's ticket, with Alice in copy.
    d.deliver(
        make_mail(
            message_id="c1@other.test",
            sender="Carol Other <carol@other.test>",
            subject="Toner order for the third floor",
            body="Please send two toner cartridges. Carol\n",
            cc=f"{NAME} <{ADDRESS}>",
            minutes=10,
        )
    )
    d.send_outbox()
    try:
        yield d
    finally:
        d.close()


def _stored_bytes(desk: Desk, request: pytest.FixtureRequest) -> bytes:
    """Every byte the desk keeps: the database (a dump on PostgreSQL) and the data folder."""
    parts = [p.read_bytes() for p in desk.settings.data_dir.rglob("*") if p.is_file()]
    if desk.db.is_postgres:
        cluster = request.getfixturevalue("pg_cluster")
        dump = cluster.dump(str(desk.db.engine.url.database))
        parts.append(dump)  # bytea columns are written as hex: read them back too
        raw = [bytes.fromhex(h.decode()) for h in re.findall(rb"\\{1,2}x((?:[0-9a-f]{2})+)", dump)]
        assert raw  # the spool's raw mail, at least
        parts += raw
    else:  # the file itself (and its write-ahead log), wherever it lives
        with desk.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(str(desk.db.engine.url.database))
        for extra in ("", "-wal", "-journal"):
            if Path(f"{path}{extra}").exists():
                parts.append(Path(f"{path}{extra}").read_bytes())
    return b"\n".join(parts)


def _found(blob: bytes) -> list[bytes]:
    lowered = blob.lower()
    return [s for s in SECRETS if s.lower() in lowered]


def test_nothing_of_the_person_is_left_and_the_rest_is_untouched(
    desk: Desk, request: pytest.FixtureRequest
) -> None:
    assert _found(_stored_bytes(desk, request)) == SECRETS  # all there before
    before = desk.ticket(1)
    done = erase(desk.db, desk.ctx, ADDRESS.upper(), actor="cli:operator")
    assert done.tickets == [1] and done.messages >= 4 and done.attachments == 1
    assert _found(_stored_bytes(desk, request)) == []
    # The ticket keeps its number, status and timeline; the texts say what happened.
    ticket = desk.ticket(1)
    assert (ticket["number"], ticket["status"]) == (before["number"], before["status"])
    assert ticket["subject"].startswith("[erased per DSR ")
    assert {m["body_text"] for m in ticket["messages"]} == {ticket["subject"]}
    assert [m["received_at"] for m in ticket["messages"]] == [
        m["received_at"] for m in before["messages"]
    ]
    # Carol's ticket is whole, but Alice is gone from its copy list.
    carol = desk.ticket(2)
    assert carol["subject"] == "Toner order for the third floor"
    assert "two toner cartridges" in carol["messages"][0]["body_text"]
    assert carol["messages"][0]["cc"] == ["[deleted]"]
    with desk.db.reading() as session:
        assert [h.number for h in search(session, "toner").hits] == [2]
        assert search(session, "marmalade").hits == []
        (row,) = session.scalars(select(AuditLog).where(AuditLog.action == "customers.erase"))
        assert row.actor == "cli:operator" and row.payload["tickets"] == 1
        customer = session.scalars(select(Customer).where(Customer.id == done.customer_id)).one()
        assert customer.display_name == "[deleted]" and customer.email.startswith("[deleted]")


def test_erasing_twice_finds_nothing_and_a_new_mail_starts_afresh(desk: Desk) -> None:
    erase(desk.db, desk.ctx, ADDRESS, actor="cli:operator")
    again = erase(desk.db, desk.ctx, ADDRESS, actor="cli:operator")
    assert again.customer_id is None and again.tickets == [] and again.messages == 0
    new = desk.deliver(
        make_mail(
            message_id="a3@customer.test",
            sender=f"{NAME} <{ADDRESS}>",
            subject="A new question",
            body="Hello again.\n",
            minutes=30,
        )
    )
    ticket = desk.ticket(new.ticket_number)
    assert new.ticket_number == 3 and ticket["customer"] == ADDRESS
    # A reply to her erased thread is kept under the fresh customer, not the erased one.
    reply = desk.deliver(
        make_mail(
            message_id="a4@customer.test",
            sender=f"{NAME} <{ADDRESS}>",
            subject="Re: [erased]",
            in_reply_to="a2@customer.test",
            body="One more thing.\n",
            minutes=40,
        )
    )
    with desk.db.reading() as session:
        customers = session.scalars(select(Customer).order_by(Customer.id)).all()
        fresh = [c for c in customers if c.email == ADDRESS]
        assert len(fresh) == 1 and any(c.email.startswith("[deleted]") for c in customers)
        stored = session.scalars(select(Message).where(Message.message_id == "a4@customer.test"))
        assert stored.one().customer_id == fresh[0].id
    assert reply.ticket_number is not None
    # Carol's thread still threads.
    carol = desk.deliver(
        make_mail(
            message_id="c2@other.test",
            sender="carol@other.test",
            subject="Re: Toner order for the third floor",
            in_reply_to="c1@other.test",
            body="Any news?\n",
            minutes=50,
        )
    )
    assert carol.ticket_number == 2


def test_the_erase_command(desk: Desk, tmp_path: Path) -> None:
    config = tmp_path / "echodesk.yaml"
    config.write_text("support_address: support@desk.test\n")
    env = {
        **os.environ,
        "ECHODESK_CONFIG": str(config),
        "ECHODESK_DATA_DIR": str(desk.settings.data_dir),
        "ECHODESK_DATABASE_URL": desk.settings.database_url or "",
    }
    env.pop("DATABASE_URL", None)

    def run(*args: str, command: str = "erase") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "echodesk.cli", command, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    exported = run(ADDRESS, "--out", str(tmp_path / "alice.zip"), command="export")
    assert exported.returncode == 0, exported.stderr
    assert "1 ticket(s)" in exported.stdout and (tmp_path / "alice.zip").stat().st_size > 0
    refused = run(ADDRESS)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert desk.ticket(1)["customer"] == ADDRESS  # nothing happened
    done = run(ADDRESS, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"erased {ADDRESS}: tickets TKT-0001" in done.stdout
    again = run(ADDRESS, "--yes", "--json")
    assert again.returncode == 0 and '"erased": false' in again.stdout
    gone = run(ADDRESS, "--out", str(tmp_path / "again.zip"), command="export")
    assert gone.returncode != 0 and "no customer" in gone.stderr


def test_export_round_trips_every_message_and_file(desk: Desk, tmp_path: Path) -> None:
    import hashlib
    import json
    import zipfile

    from echodesk.desk.privacy.export import export_person
    from echodesk.errors import NotFoundError
    from echodesk.store.models import Attachment, Message

    out = tmp_path / "alice.zip"
    done = export_person(desk.db, desk.ctx, ADDRESS.upper(), out)
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        document = json.loads(archive.read("echo-export.json"))
        readme = archive.read("README.txt").decode()
        contents = {n: archive.read(n) for n in names if n.startswith("files/")}
    assert "echo-export.json" in readme and "other_messages" in readme
    assert document["customer"]["email"] == ADDRESS and document["customer"]["name"] == NAME
    (ticket,) = document["tickets"]
    with desk.db.reading() as session:
        stored = session.scalars(
            select(Message).where(Message.ticket_id == 1).order_by(Message.id)
        ).all()
        stored_files = session.scalars(select(Attachment)).all()
    assert [m["message_id"] for m in ticket["messages"]] == [m.message_id for m in stored]
    assert [m["body_text"] for m in ticket["messages"]] == [m.body_text for m in stored]
    assert {m["direction"] for m in ticket["messages"]} == {"inbound", "outbound", "internal"}
    listed = [a for m in ticket["messages"] for a in m["attachments"]]
    assert [a["sha256"] for a in listed] == [a.sha256 for a in stored_files]
    for attachment in listed:  # every file, byte for byte
        data = contents[attachment["path"]]
        assert hashlib.sha256(data).hexdigest() == attachment["sha256"]
    assert FILE_BYTES in contents[listed[0]["path"]]
    assert (done.tickets, done.files) == (1, 1)
    # Carol's ticket is not Alice's, and nothing of it is in her export.
    assert "toner" not in json.dumps(document).lower()
    without = export_person(desk.db, desk.ctx, ADDRESS, tmp_path / "b.zip", internal_notes=False)
    assert without.messages == done.messages - 1
    erase(desk.db, desk.ctx, ADDRESS, actor="cli:operator")
    with pytest.raises(NotFoundError):
        export_person(desk.db, desk.ctx, ADDRESS, tmp_path / "c.zip")
