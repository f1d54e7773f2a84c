"""``echodesk search`` pages by cursor: ``--after`` the cursor it prints, ``--all`` every page."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.mail import make_mail
from tests.test_cli import Cli


def test_search_pages_by_cursor_and_all_walks_every_page(tmp_path: Path, db_url: str) -> None:
    cli = Cli(tmp_path, db_url)
    cli.run("db", "upgrade")
    inbox = tmp_path / "in"
    inbox.mkdir()
    for n in range(3):
        mail = make_mail(
            message_id=f"p{n}@x.test", subject=f"Printer {n}", body="The printer jams.\n",
            sender=f"c{n}@shop.test", minutes=n,
        )  # fmt: skip
        (inbox / f"{n}.eml").write_bytes(mail)
    cli.run("ingest", str(inbox))
    every = cli.run("search", "printer", "--all", "--limit", "1", "--json")
    numbers = [json.loads(line)["number"] for line in every.stdout.splitlines()]
    assert sorted(numbers) == ["TKT-0001", "TKT-0002", "TKT-0003"]
    first = cli.run("search", "printer", "--limit", "2")
    assert "3 ticket(s) (showing 2)" in first.stderr
    cursor = re.search(r"next page: --after (\S+)", first.stderr)
    assert cursor is not None
    rest = cli.run("search", "printer", "--limit", "2", "--after", cursor.group(1), "--json")
    shown = [line.split()[0] for line in first.stdout.splitlines() if line.startswith("TKT")]
    last = [json.loads(line)["number"] for line in rest.stdout.splitlines()]
    assert len(last) == 1 and sorted(shown + last) == sorted(numbers)
    bad = cli.run("search", "printer", "--after", "not-a-cursor", ok=False)
    assert bad.returncode == 2 and "page link" in bad.stderr and "Traceback" not in bad.stderr
    other = cli.run("search", "jams", "--after", cursor.group(1), ok=False)
    assert other.returncode == 2 and "another search" in other.stderr
