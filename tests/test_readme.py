"""The README's shell examples, run as a new user runs them: verbatim, on a fresh install.

Every ```sh (or bash, shell) block of README.md is run, in order, in one
empty folder holding nothing but ``.venv`` (this checkout's), with no
``ECHODESK_*`` setting: the embedded default, as ``scripts/run`` leaves it.
A block is left out only when the line just above it says why::

    <!-- not run: installs Debian packages -->

and a block that needs Echo running says so::

    <!-- run beside: echodesk serve -->

For it, ``echodesk serve`` runs in the background; its SMTP and web ports are
free ones rather than 2525 and 8025 (which a desk already running on this
machine may hold), and the block's ``2525`` is read as that port: nothing else
of the text changes. Received mail is not checked against DNS here, as in
every test (tests/conftest.py): no test asks the machine's resolver.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from echodesk.cli.banner import first_mail_command
from echodesk.config import Settings
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHELLS = frozenset({"sh", "bash", "shell"})
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"^<!--\s*(not run|run beside):\s*(.*?)\s*-->$")
#: What a block that runs may not do: install or change the machine, or serve until stopped.
NEVER_RUN = re.compile(r"^\s*(scripts/(run|test)|sudo |heroku |\S*echodesk (serve|web)\b)", re.M)


@dataclass(frozen=True)
class Block:
    line: int
    text: str
    mark: str  # "", "not run" or "run beside"
    why: str


def shell_blocks(markdown: str) -> list[Block]:
    """Each shell block with the marking on the line just above its fence."""
    found = []
    for match in FENCE.finditer(markdown):
        if match.group(1) not in SHELLS:
            continue
        before = markdown[: match.start()].rstrip("\n").rpartition("\n")[2].strip()
        marked = MARK.match(before)
        line = markdown.count("\n", 0, match.start()) + 1
        mark, why = (marked.group(1), marked.group(2)) if marked else ("", "")
        found.append(Block(line, match.group(2), mark, why))
    return found


def test_every_shell_block_runs_or_says_why_not() -> None:
    blocks = shell_blocks(README.read_text())
    assert len([b for b in blocks if b.mark != "not run"]) >= 6
    for block in blocks:
        where = f"README.md:{block.line}"
        if block.mark:
            assert block.why, f"{where}: say why"
        if block.mark != "not run":
            assert not NEVER_RUN.search(block.text), f"{where}: mark it '<!-- not run: why -->'"
    assert shell_blocks("<!-- not run: a reason -->\n```sh\nsudo x\n```\n```yaml\na: b\n```\n") == [
        Block(2, "sudo x\n", "not run", "a reason")
    ]


class FreshInstall:
    """An empty folder with this checkout's ``.venv``, and no settings at all."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "fresh"
        self.home.mkdir()
        (self.home / ".venv").symlink_to(ROOT / ".venv")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ECHODESK_") and k != "DATABASE_URL"
        }
        self.env["ECHODESK_VERIFY_MAIL"] = "false"
        self.smtp_port, self.web_port = free_port(), free_port()
        self.serve: subprocess.Popen[bytes] | None = None
        self.banner = self.home.parent / "serve.out"

    def run(self, block: Block) -> None:
        text = block.text.replace("2525", str(self.smtp_port)) if self.serve else block.text
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", text],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, (
            f"README.md:{block.line} exited {proc.returncode}\n{text}\n"
            f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )

    def start_serve(self) -> str:
        """``echodesk serve`` in the background; what it printed once it listened."""
        with self.banner.open("wb") as out, (self.home.parent / "serve.err").open("wb") as err:
            self.serve = subprocess.Popen(
                [
                    ".venv/bin/echodesk",
                    "serve",
                    f"--smtp=127.0.0.1:{self.smtp_port}",
                    f"--web=127.0.0.1:{self.web_port}",
                ],
                cwd=self.home,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            printed = self.banner.read_text()
            if "and see its ticket" in printed:
                return printed
            if self.serve.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError((self.home.parent / "serve.err").read_text()[-3000:])

    def stop_serve(self) -> str:
        """Stop ``serve`` once what it received is processed; everything it printed."""
        assert self.serve is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and '"pending"' in self.echodesk("spool", "--json"):
            time.sleep(0.2)
        self.serve.send_signal(signal.SIGTERM)
        assert self.serve.wait(timeout=60) == 0
        self.serve = None
        return self.banner.read_text()

    def echodesk(self, *args: str) -> str:
        return subprocess.run(
            [".venv/bin/echodesk", *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout


@pytest.mark.skipif(sys.platform == "win32", reason="the README's commands are POSIX shell")
def test_the_readme_commands_work_verbatim_on_a_fresh_install(tmp_path: Path) -> None:
    readme = README.read_text()
    desk = FreshInstall(tmp_path)
    ran = 0
    for block in shell_blocks(readme):
        if block.mark == "not run":
            continue
        if block.mark == "run beside":
            banner = desk.start_serve()
            # The command the banner offers is the one the README shows.
            offered = first_mail_command(Settings(), f"127.0.0.1:{desk.smtp_port}")
            assert offered in banner
            assert offered.replace(str(desk.smtp_port), "2525") in readme
        desk.run(block)
        if block.mark == "run beside":
            assert desk.stop_serve().count("Echo is ready.") == 1
            assert "First test" in desk.echodesk("tickets")  # the banner's mail was taken
        ran += 1
    assert ran >= 6
    assert (desk.home / "echodesk-data" / "echodesk.db").is_file()
