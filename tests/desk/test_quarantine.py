"""Spam and flood quarantine: kept in the spool, out of tickets, released or deleted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from echodesk.store import spool
from echodesk.store.models import InboundSpool
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in
from tests.test_cli import Cli


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"X-Spam-Score": "7.5"}, "spam score 7.5 above 5"),
        ({"X-Spam-Status": "Yes, score=9.1 required=5.0 tests=BAYES_99"}, "spam score 9.1"),
        ({"X-Spam-Flag": "YES"}, "X-Spam-Flag: YES"),
        ({"X-Rspamd-Score": "12"}, "spam score 12"),
    ],
)
def test_spam_is_quarantined(desk: Desk, headers: dict[str, str], why: str) -> None:
    desk.reconfigure(spam_header="X-Rspamd-Score")
    outcome = desk.deliver(make_mail(message_id="spam@x.test", headers=headers))
    assert (outcome.state, outcome.ticket_id) == ("quarantined", None)
    assert why in outcome.reason
    assert desk.tickets() == []


def test_mail_below_the_threshold_is_a_ticket(desk: Desk) -> None:
    outcome = desk.deliver(make_mail(message_id="ham@x.test", headers={"X-Spam-Score": "4.9"}))
    assert outcome.created_ticket
    desk.reconfigure(spam_threshold=2.0)
    outcome = desk.deliver(make_mail(message_id="ham2@x.test", headers={"X-Spam-Score": "4.9"}))
    assert outcome.state == "quarantined"


def test_the_eleventh_new_ticket_in_a_day_is_quarantined_but_replies_are_not(
    desk: Desk,
) -> None:
    outcomes = [
        desk.deliver(make_mail(message_id=f"f{n}@flood.test", subject=f"Order {n}"))
        for n in range(12)
    ]
    assert [o.state for o in outcomes] == ["processed"] * 10 + ["quarantined"] * 2
    assert "already opened 10 tickets in 24 hours" in outcomes[10].reason
    reply = make_mail(
        message_id="r1@flood.test", subject="Re: Order 0", in_reply_to="f0@flood.test"
    )
    assert desk.deliver(reply).ticket_number == 1
    desk.reconfigure(flood_limit=0)
    assert desk.deliver(make_mail(message_id="f99@flood.test", subject="More")).created_ticket


def test_release_processes_it_normally_and_delete_keeps_only_the_record(desk: Desk) -> None:
    first = desk.deliver(make_mail(message_id="s1@x.test", headers={"X-Spam-Flag": "YES"}))
    second = desk.deliver(make_mail(message_id="s2@x.test", headers={"X-Spam-Flag": "YES"}))
    with desk.db.transaction() as session:
        spool.release(session, first.spool_id)
    (released,) = [o for o in desk.run_worker_until_idle() if o.spool_id == first.spool_id]
    assert released.created_ticket and released.state == "processed"
    with desk.db.transaction() as session:
        spool.delete_quarantined(session, second.spool_id, desk.ctx.blobs)
    with desk.db.reading() as session:
        row = session.get(InboundSpool, second.spool_id)
        assert row is not None and (row.state, row.raw, row.raw_key) == ("deleted", None, None)
        states = dict(session.execute(select(InboundSpool.id, InboundSpool.state)).all())
    assert states == {first.spool_id: "processed", second.spool_id: "deleted"}
    with desk.db.transaction() as session, pytest.raises(Exception, match="not quarantined"):
        spool.release(session, second.spool_id)


def test_the_quarantine_commands(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    spam = tmp_path / "spam.eml"
    spam.write_bytes(
        make_mail(message_id="s1@x.test", subject="Cheap pills", headers={"X-Spam-Score": "25"})
    )
    cli.run("ingest", str(spam))
    assert "nothing is quarantined" not in cli.run("quarantine").stdout
    (row,) = cli.json("quarantine")
    assert (row["from"], row["subject"]) == ("alice@customer.test", "Cheap pills")
    assert "spam score 25" in row["reason"]
    out = cli.run("quarantine", "release", str(row["id"])).stdout
    assert "released into TKT-0001" in out
    assert cli.json("quarantine") == []
    assert "nothing is quarantined" in cli.run("quarantine").stdout
    cli.run("ingest", str(spam.with_name("s2.eml")), ok=False)
    second = tmp_path / "s2.eml"
    second.write_bytes(make_mail(message_id="s2@x.test", headers={"X-Spam-Flag": "YES"}))
    cli.run("ingest", str(second))
    (row,) = cli.json("quarantine")
    assert "deleted" in cli.run("quarantine", "delete", str(row["id"])).stdout
    gone = cli.run("quarantine", "release", str(row["id"]), ok=False)
    assert gone.returncode == 2 and "not quarantined" in gone.stderr
    assert json.loads(cli.run("spool", "--state", "deleted", "--json").stdout)[0]["id"] == row["id"]


def test_a_held_row_shows_its_sender_subject_and_time_and_erasure_clears_them(
    desk: Desk,
) -> None:
    desk.add_agent()
    desk.deliver(
        make_mail(
            message_id="spam@x.test",
            sender="Mallory Seller <mallory@offers.test>",
            subject="Cheap toner today",
            headers={"X-Spam-Score": "9"},
        )
    )
    client = desk_app(desk).test_client()
    sign_in(client, desk)
    page = client.get("/spool").get_data(as_text=True)
    held = page.split("Quarantined", 1)[1]
    assert "Mallory Seller &lt;mallory@offers.test&gt;" in held
    assert "Cheap toner today" in held and "received " in held
    erased = desk.cli("erase", "mallory@offers.test", "--yes")
    assert erased.returncode == 0, erased.stderr
    page = client.get("/spool").get_data(as_text=True)
    assert "mallory@offers.test" not in page
