"""``echodesk rules check`` and ``rules test`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.mail import make_mail
from tests.test_cli import Cli

GOOD = """
- name: Big customers
  on: new_ticket
  if: {from: {domain: bigcorp.example}}
  then:
    - assign: bob@desk.test
    - tag: vip
- name: Invoices
  if: {subject: {contains: invoice}}
  then: [{tag: billing}]
"""


def _cli(tmp_path: Path, db_url: str) -> Cli:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    cli.run("agents", "add", "bob@desk.test")
    return cli


def test_check_passes_a_good_file_and_names_every_problem_of_a_bad_one(
    tmp_path: Path, db_url: str
) -> None:
    cli = _cli(tmp_path, db_url)
    good = tmp_path / "rules.yaml"  # beside the settings file: the default
    good.write_text(GOOD)
    assert "2 rule(s), no problems" in cli.run("rules", "check").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "- name: One\n  if: {subjekt: x}\n  then: [{tag: a}]\n"
        "- name: Two\n  if: {always: true}\n  then: [{assign: nobody@desk.test}]\n"
    )
    out = cli.run("rules", "check", str(bad), ok=False)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:2:") and "subjekt" in line for line in lines)
    assert any(line.startswith(f"{bad}:6:") and "nobody@desk.test" in line for line in lines)
    broken = tmp_path / "broken.yaml"
    broken.write_text("- name: [unclosed\n")
    out = cli.run("rules", "check", str(broken), ok=False)
    assert out.returncode == 1 and f"{broken}:" in out.stderr


def test_test_explains_each_rule_for_a_message(tmp_path: Path, db_url: str) -> None:
    cli = _cli(tmp_path, db_url)
    (tmp_path / "rules.yaml").write_text(GOOD)
    msg = tmp_path / "m.eml"
    msg.write_bytes(
        make_mail(message_id="m1@bigcorp.example", sender="ceo@bigcorp.example", subject="Hi")
    )
    result = cli.json("rules", "test", str(msg))
    assert result["event"] == "new_ticket"
    assert [(r["rule"], r["matched"]) for r in result["rules"]] == [
        ("Big customers", True),
        ("Invoices", False),
    ]
    assert "bigcorp.example" in result["rules"][0]["why"]
    assert [(a["kind"], a["value"] or a["values"]) for a in result["actions"]] == [
        ("assign", "bob@desk.test"),
        ("tag", ["vip"]),
    ]
    human = cli.run("rules", "test", str(msg)).stdout
    assert "MATCH Big customers" in human and "would assign bob@desk.test" in human
    assert cli.json("tickets") == []  # a dry run changes nothing


def test_replaying_recent_mail_against_a_candidate(tmp_path: Path, db_url: str) -> None:
    cli = _cli(tmp_path, db_url)
    (tmp_path / "rules.yaml").write_text(GOOD)
    mails = tmp_path / "in"
    mails.mkdir()
    (mails / "a.eml").write_bytes(make_mail(message_id="a@x.test", subject="Invoice 12"))
    (mails / "b.eml").write_bytes(make_mail(message_id="b@x.test", subject="Hello"))
    cli.run("ingest", str(mails))
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text("- name: Greetings\n  if: {subject: hello}\n  then: [{tag: hi}]\n")
    report = json.loads(
        cli.run("rules", "test", "--spool-since", "7d", "--rules", str(candidate), "--json").stdout
    )
    assert report["messages"] == 2
    changed = {c["subject"]: (c["now"], c["candidate"]) for c in report["changed"]}
    assert changed == {"Invoice 12": (["tag billing"], []), "Hello": ([], ["tag hi"])}
    bad = cli.run("rules", "test", "--spool-since", "lately", ok=False)
    assert bad.returncode == 2 and "like 7d" in bad.stderr
