"""``echodesk ingest``: a history import counted in the mail's own time, every
outcome counted, and files that are not mail refused."""

from __future__ import annotations

import mailbox as stdlib_mailbox
from pathlib import Path

from echodesk.cli.ingest import _chunks
from echodesk.mailbox.message import Envelope
from echodesk.store.db import Database
from echodesk.store.models import InboundSpool, Ticket
from tests.support.mail import make_dsn, make_mail
from tests.test_cli import Cli

DAY = 24 * 60


def _mbox(path: Path, mails: list[bytes]) -> Path:
    box = stdlib_mailbox.mbox(str(path))
    for raw in mails:
        box.add(raw)
    box.close()
    return path


def _twenty(sender: str, minutes_apart: int) -> list[bytes]:
    """Twenty separate conversations from one customer, ``minutes_apart`` apart."""
    return [
        make_mail(
            message_id=f"h{n}-{minutes_apart}@customer.test",
            subject=f"Question number {n}",
            sender=sender,
            minutes=-90 * DAY + n * minutes_apart,
        )
        for n in range(20)
    ]


def test_a_customer_who_wrote_twenty_times_over_two_months_is_no_flood(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    history = _mbox(tmp_path / "history.mbox", _twenty("Ann <ann@customer.test>", 3 * DAY))
    summary = cli.json("ingest", str(history))
    assert summary["tickets_created"] == 20 and summary["quarantined"] == 0
    assert summary["read"] == 20


def test_the_same_twenty_in_one_hour_quarantines_from_the_eleventh(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    burst = _mbox(tmp_path / "burst.mbox", _twenty("Bob <bob@customer.test>", 3))
    summary = cli.json("ingest", str(burst))
    assert (summary["tickets_created"], summary["quarantined"]) == (10, 10)
    held = cli.json("quarantine")
    subjects = sorted(int(h["subject"].rsplit(" ", 1)[1]) for h in held)
    assert subjects == list(range(10, 20))
    assert all("already opened 10 tickets in 24 hours" in h["reason"] for h in held)


def test_tickets_of_an_imported_history_are_dated_by_their_mail(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    history = _mbox(tmp_path / "history.mbox", _twenty("Ann <ann@customer.test>", 3 * DAY)[:2])
    cli.run("ingest", str(history))
    database = Database(db_url)
    try:
        with database.reading() as session:
            created = sorted(t.created_at for t in session.query(Ticket))
    finally:
        database.dispose()
    assert (created[1] - created[0]).days == 3


def test_every_outcome_is_counted_and_the_counts_add_up(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    auto = make_mail(
        message_id="ooo@customer.test",
        subject="Out of office",
        sender="carl@customer.test",
        headers={"Auto-Submitted": "auto-replied"},
    )
    mails = [
        make_mail(message_id="q1@customer.test", subject="Broken printer"),
        make_mail(message_id="q2@customer.test", subject="Re: x", in_reply_to="q1@customer.test"),
        make_mail(message_id="q1@customer.test", subject="Broken printer"),
        make_dsn(failed="gone@customer.test"),
        auto,
    ]
    folder = tmp_path / "mixed"
    folder.mkdir()
    for n, raw in enumerate(mails):
        (folder / f"{n}.eml").write_bytes(raw)
    (folder / "notes.txt").write_text("Call the customer back on Monday.\n")
    summary = cli.json("ingest", str(folder))
    counted = {k: v for k, v in summary.items() if v and k not in ("read", "accepted")}
    assert counted == {
        "tickets_created": 1,
        "messages_appended": 1,
        "duplicates": 1,
        "bounces": 1,
        "auto_replies": 1,
        "rejected": 1,
    }
    assert sum(counted.values()) == summary["read"] == 6 and summary["accepted"] == 5
    words = cli.run("ingest", str(folder)).stdout
    assert words.startswith("read 6 message(s): ") and "5 duplicates, 1 rejected" in words


def test_files_that_are_not_mail_are_refused_by_name_and_nothing_is_stored(
    tmp_path: Path, db_url: str
) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "real.eml").write_bytes(make_mail(message_id="real@customer.test"))
    (folder / "expected.yml").write_text(
        "--- !ruby/hash:Something\nfrom: ann@customer.test\nsubject: Hi\nbody: |-\n  Hello\n"
    )
    (folder / "bare.yaml").write_text("from: ann@customer.test\nbody: |\n  Hello\n")
    (folder / "report.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (folder / "data.json").write_text('{"from": "ann@customer.test"}')
    (folder / "empty.eml").write_bytes(b"")
    proc = cli.run("ingest", str(folder), "--json")
    refused = [line for line in proc.stderr.splitlines() if line.startswith("refused ")]
    assert len(refused) == 5
    for name in ("expected.yml", "bare.yaml", "report.pdf", "data.json", "empty.eml"):
        assert any(str(folder / name) in line for line in refused), name
    assert any("YAML document" in line for line in refused)
    database = Database(db_url)
    try:
        with database.reading() as session:
            assert session.query(InboundSpool).count() == 1
    finally:
        database.dispose()
    forced = cli.json("ingest", str(folder / "data.json"), "--force")
    assert (forced["rejected"], forced["accepted"]) == (0, 1)


def test_mail_with_a_broken_header_further_down_is_still_mail(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.run("db", "upgrade")
    raw = make_mail(message_id="odd@customer.test").replace(
        b"Subject:", b"This line is no header at all\r\nSubject:", 1
    )
    eml = tmp_path / "odd.eml"
    eml.write_bytes(b"---- Original email message ----\r\n" + raw)
    summary = cli.json("ingest", str(eml))
    assert (summary["rejected"], summary["tickets_created"]) == (0, 1)


def test_an_import_holds_a_bounded_amount_of_mail_read_from_the_files() -> None:
    sizes = [10, 10, 30, 5, 5, 5, 100, 1]
    arrivals = [(b"x" * n, Envelope(source="file", source_ref=str(i))) for i, n in enumerate(sizes)]
    chunks = list(_chunks(iter(arrivals), 3, 25))
    # at most 3 messages, and no more once 25 bytes are held; none lost, none reordered
    assert [[len(raw) for raw, _ in chunk] for chunk in chunks] == [
        [10, 10, 30],
        [5, 5, 5],
        [100],
        [1],
    ]
    assert [env.source_ref for chunk in chunks for _, env in chunk] == [str(i) for i in range(8)]
