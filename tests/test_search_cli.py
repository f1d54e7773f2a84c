"""``echodesk search``, ``tag`` and ``untag`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.mail import make_mail
from tests.test_cli import Cli


def test_search_tag_untag(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.eml").write_bytes(
        make_mail(message_id="a@x.test", subject="Printer on fire", body="The printer smokes.\n")
    )
    (inbox / "b.eml").write_bytes(
        make_mail(
            message_id="b@x.test", sender="bob@shop.test", subject="Invoice", body="Wrong total.\n"
        )
    )
    cli.run("ingest", str(inbox))
    out = cli.run("search", "printer", "--json").stdout.strip().splitlines()
    (hit,) = [json.loads(line) for line in out]
    assert (hit["number"], hit["status"], hit["customer"]) == (
        "TKT-0001",
        "open",
        "alice@customer.test",
    )
    assert "**printer**" in hit["snippet"].lower() or "**Printer**" in hit["snippet"]
    assert set(hit) >= {"number", "subject", "status", "customer", "score", "snippet"}
    human = cli.run("search", "printer")
    assert (
        "TKT-0001" in human.stdout and "[printer]" in human.stdout and "1 ticket(s)" in human.stderr
    )
    assert (
        cli.run("tag", "TKT-0002", "Billing", "urgent").stdout.strip()
        == "TKT-0002: billing, urgent"
    )
    tagged = cli.run("search", "tag:billing", "--json").stdout.strip().splitlines()
    assert [json.loads(line)["number"] for line in tagged] == ["TKT-0002"]
    assert cli.run("untag", "TKT-0002", "urgent").stdout.strip() == "TKT-0002: billing"
    bad = cli.run("tag", "TKT-0002", "no spaces!", ok=False)
    assert bad.returncode == 2 and "not a tag" in bad.stderr
    wrong = cli.run("search", "status:finished", ok=False)
    assert (
        wrong.returncode == 2
        and "status:finished" in wrong.stderr
        and "Traceback" not in wrong.stderr
    )
    hostile = cli.run("search", "'; DROP TABLE tickets; --", '"unbalanced', "NEAR(", "*")
    assert "Traceback" not in hostile.stderr
    assert len(cli.json("tickets")) == 2
    me = cli.run("search", "assignee:me", ok=False)
    assert me.returncode == 2 and "who you are" in me.stderr


def test_a_negation_is_a_query_word_not_an_option(tmp_path: Path, db_url: str) -> None:
    """The README's own example: ``-toner`` excludes, it is no unknown option."""
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    inbox = tmp_path / "in"
    inbox.mkdir()
    for n, body in enumerate(("The printer is on fire.\n", "Printer fire, toner everywhere.\n")):
        mail = make_mail(
            message_id=f"n{n}@x.test", subject=f"Fire {n}", body=body, sender=f"c{n}@shop.test"
        )
        (inbox / f"{n}.eml").write_bytes(mail)
    cli.run("ingest", str(inbox))
    found = cli.run("search", "printer", "fire", "status:open", "-toner", "--json")
    assert [json.loads(line)["subject"] for line in found.stdout.splitlines()] == ["Fire 0"]
    assert len(cli.run("search", "printer", "-toner").stdout.strip().splitlines()) >= 1
