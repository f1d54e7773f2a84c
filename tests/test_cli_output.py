"""What people read from the command line: ``show``, the listings, an empty spool state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from echodesk.cli.table import Column, cells, render

LONG_SUBJECT = "Printer " + "jam " * 750  # about 3,000 characters


class Cli:
    """``echodesk`` in a subprocess with its own settings file and data folder."""

    def __init__(self, tmp_path: Path) -> None:
        config = tmp_path / "echodesk.yaml"
        config.write_text("support_address: support@desk.test\n")
        self.tmp = tmp_path
        self.env = {
            **os.environ,
            "ECHODESK_CONFIG": str(config),
            "ECHODESK_DATA_DIR": str(tmp_path / "data"),
        }
        self.env.pop("DATABASE_URL", None)

    def run(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "echodesk.cli", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def ingest(self, name: str, headers: str, body: str = "Hello.\n") -> None:
        mail = self.tmp / name
        mail.write_text(f"{headers}To: support@desk.test\n\n{body}")
        self.run("ingest", str(mail))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_show_prints_what_is_known_and_the_tags(cli: Cli) -> None:
    cli.ingest(
        "undated.eml",
        "From: Alice <alice@customer.test>\nSubject: Printer on fire\nMessage-ID: <u1@c.test>\n",
    )
    cli.run("agents", "add", "bob@desk.test", "--name", "Bob")
    cli.run("tag", "TKT-0001", "billing", "urgent")
    cli.run("note", "TKT-0001", "--as", "bob@desk.test", stdin="Called the customer.\n")
    cli.run("reply", "TKT-0001", "--as", "bob@desk.test", stdin="Please unplug it.\n")

    shown = cli.run("show", "TKT-0001")
    assert "None" not in shown and "()" not in shown and "[]" not in shown
    assert "  tags billing, urgent" in shown.splitlines()
    headings = [line for line in shown.splitlines() if line.startswith("--- ")]
    assert len(headings) == 3
    assert headings[0].startswith("--- inbound customer from Alice <alice@customer.test> at ")
    assert headings[0].endswith("(new ticket)")
    assert headings[1].startswith("--- internal note from Bob <bob@desk.test> at ")
    assert headings[2].startswith("--- outbound reply from Bob <support@desk.test> at ")
    for heading in headings:
        assert " UTC" in heading and not heading.endswith(" ")
    assert "Called the customer." in shown and "Please unplug it." in shown


def test_an_empty_state_of_the_spool_says_so_and_where_the_messages_are(cli: Cli) -> None:
    assert cli.run("spool", "--state", "failed").strip() == "the spool is empty"
    for n in range(3):
        cli.ingest(
            f"m{n}.eml", f"From: a{n}@customer.test\nSubject: S{n}\nMessage-ID: <m{n}@c.test>\n"
        )
    cli.ingest("again.eml", "From: a0@customer.test\nSubject: S0\nMessage-ID: <m0@c.test>\n")
    answer = cli.run("spool", "--state", "failed").strip()
    assert answer == "no failed messages in the spool; by state: processed 3, duplicate 1"
    assert cli.run("spool", "--state", "failed", "--json").strip() == "[]"


def test_listings_align_and_cut_long_values(cli: Cli) -> None:
    cli.ingest(
        "long.eml", f"From: a@customer.test\nSubject: {LONG_SUBJECT}\nMessage-ID: <l@c.test>\n"
    )
    cli.ingest(
        "short.eml", "From: someone.else@customer.test\nSubject: Hi\nMessage-ID: <s@c.test>\n"
    )
    cli.run("tag", "TKT-0002", "vip")
    lines = cli.run("tickets").splitlines()
    assert len(lines) == 2 and all(len(line) < 200 for line in lines)
    assert "Printer jam jam" in lines[0] and lines[0].endswith("\u2026")
    # Each column starts at the same place on every line.
    assert lines[0].index("open") == lines[1].index("open")
    assert lines[0].index("a@customer.test") == lines[1].index("someone.else@")
    assert lines[1].endswith("[vip]")

    spool = cli.run("spool").splitlines()
    assert len(spool) == 2 and all(len(line) < 250 for line in spool)
    assert spool[0].index("processed") == spool[1].index("processed")

    found = cli.run("search", "printer").splitlines()
    assert found[0].startswith("TKT-0001") and found[0].endswith("\u2026")
    assert all(len(line) < 200 for line in found)


def test_a_table_counts_wide_characters_and_folds_line_breaks() -> None:
    lines = render(
        [("TKT-1", "印刷機が燃えている", "x"), ("TKT-22", "a\nb\tc", "y"), ("TKT-3", None, "z")],
        [Column(10), Column(12), Column(5)],
    )
    assert lines[1] == "TKT-22  " + "a b c".ljust(11) + "  y"
    assert lines[2] == "TKT-3   " + "-".ljust(11) + "  z"
    assert lines[0].startswith("TKT-1   印刷機が燃\u2026")
    assert cells(lines[0]) == cells(lines[1]) == cells(lines[2])
