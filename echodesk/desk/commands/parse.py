"""Finding the command lines at the top of an agent's reply.

Commands are the lines before any other text: ``#assign me``, ``#status
pending``. Mail clients add things around them (blank lines, non-breaking
spaces, ``*bold*`` or ``_underline_`` markup from rich-text editors, a byte
order mark), so those are tolerated; the first line that is neither blank
nor a command ends the commands, and everything from there is the reply.
A reply can hold at most :data:`MAX_COMMANDS` command lines: a long list of
``#`` lines is text (a list of hashtags, say), not a script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COMMANDS = 20
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_COMMAND_RE = re.compile(r"#([A-Za-z][A-Za-z_-]{0,30})(?:[ \t]+(.*))?")
_MARKUP = "*_"


@dataclass(frozen=True)
class CommandLine:
    """One command line: as written, its verb (lower-case) and its arguments."""

    raw: str
    verb: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Found:
    commands: tuple[CommandLine, ...]
    body: str


def _clean(line: str) -> str:
    text = line.replace("\xa0", " ")
    for ch in _INVISIBLE:
        text = text.replace(ch, "")
    text = text.strip()
    while len(text) > 1 and text[0] in _MARKUP and text[-1] == text[0]:
        text = text[1:-1].strip()
    return text


def command_of(line: str) -> CommandLine | None:
    """The command a line holds, or None if it is text."""
    text = _clean(line)
    match = _COMMAND_RE.fullmatch(text)
    if match is None:
        return None
    args = tuple(match.group(2).split()) if match.group(2) else ()
    return CommandLine(raw=text, verb=match.group(1).lower(), args=args)


def find_commands(text: str) -> Found:
    """Split a reply into its leading command lines and the rest of the body."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    commands: list[CommandLine] = []
    index = 0
    while index < len(lines) and len(commands) < MAX_COMMANDS:
        if not _clean(lines[index]):
            index += 1
            continue
        command = command_of(lines[index])
        if command is None:
            break
        commands.append(command)
        index += 1
    if len(commands) == MAX_COMMANDS and index < len(lines) and command_of(lines[index]):
        return Found((), text)  # too many: this is text that happens to use '#'
    return Found(tuple(commands), "\n".join(lines[index:]).strip("\n"))
