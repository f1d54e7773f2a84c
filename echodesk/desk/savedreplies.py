"""Saved replies: named texts with variables, from ``replies.yaml`` beside the settings.

The file is a mapping of names to texts (or to ``{text: ..., about: ...}``);
an agent inserts one with ``#reply NAME``: as the first lines' command the
text goes above the agent's own words, as a line of its own among them it
goes where that line stands. Variables are ``$name`` or ``${name}``, from
:data:`VARIABLES`; ``$$`` is a dollar sign, and a ``$`` before anything that
is not a letter stays as written (``$5`` is five dollars).

The file is checked whole when it is loaded: every problem (bad YAML, a name
that is not a word, a text that is not text, a repeated name, an unknown
variable) is reported as ``FILE:LINE:COLUMN: what``, and a file with any
problem is not used (the last good one stays in force, see
:class:`~echodesk.desk.filesource.FileSource`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.orm import Session
from yaml.nodes import MappingNode, Node, ScalarNode

from echodesk.config import Settings
from echodesk.desk.filesource import FileSource
from echodesk.errors import EchoError
from echodesk.statuses import UNRESOLVED
from echodesk.store import customers
from echodesk.store.lookups import AgentRow
from echodesk.store.tickets import Ticket

#: What a saved reply may use, and what each stands for.
VARIABLES: dict[str, str] = {
    "customer_name": "the customer's name (their address when they gave none)",
    "customer_first_name": "the first word of the customer's name",
    "ticket": "the ticket's number, as TKT-0042",
    "agent_name": "the name of the agent who replies",
    "subject": "the ticket's subject",
    "open_tickets": "how many unresolved tickets the customer has, this one included",
}
#: ``$$``, ``${name}`` or ``$name``.
_PLACEHOLDER = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
#: The longest saved reply, in characters.
MAX_TEXT = 100_000


class RepliesFileError(EchoError):
    """A saved-replies file with problems; ``str()`` lists them, one per line."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SavedReply:
    name: str
    text: str
    about: str = ""
    #: Where it is written (``FILE:LINE``), for listings.
    where: str = ""


@dataclass(frozen=True)
class SavedReplies:
    replies: Mapping[str, SavedReply] = field(default_factory=dict)
    source: str = ""

    def get(self, name: str) -> SavedReply | None:
        return self.replies.get(name.strip().lower())

    @property
    def names(self) -> list[str]:
        return sorted(self.replies)


NONE = SavedReplies()


def render(text: str, values: Mapping[str, str]) -> str:
    """The text with each known variable replaced; anything else stays as written."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return _PLACEHOLDER.sub(one, text)


def values_for(
    session: Session, settings: Settings, ticket: Ticket, agent: AgentRow
) -> dict[str, str]:
    """What the variables stand for on this ticket, for this agent."""
    customer = customers.get(session, ticket.customer_id)
    name = (customer.display_name or customer.email) if customer is not None else ""
    count = customers.unresolved_count(session, customer.id, UNRESOLVED) if customer else 0
    return {
        "customer_name": name,
        "customer_first_name": name.split()[0] if name.split() else name,
        "ticket": settings.ticket_label(ticket.number),
        "agent_name": agent.name or agent.email,
        "subject": ticket.subject,
        "open_tickets": str(count),
    }


def unknown_variables(text: str) -> list[tuple[str, int]]:
    """(name, offset) of each ``$name`` that is not one of :data:`VARIABLES`."""
    return [
        (name, m.start())
        for m in _PLACEHOLDER.finditer(text)
        if (name := m.group(2) or m.group(3)) and name not in VARIABLES
    ]


class _Problems:
    def __init__(self, source: str, lines: list[str]) -> None:
        self.source = source
        self.lines = lines
        self.found: list[str] = []

    def at(self, line: int, column: int, text: str) -> None:
        self.found.append(f"{self.source}:{line + 1}:{column + 1}: {text}")

    def node(self, node: Node, text: str) -> None:
        self.at(node.start_mark.line, node.start_mark.column, text)

    def variable(self, node: ScalarNode, offset: int, text: str) -> None:
        """A problem at a character of a text: its own line and column in the file."""
        line, column = _position(node, offset, self.lines)
        self.at(line, column, text)


def _position(node: ScalarNode, offset: int, lines: list[str]) -> tuple[int, int]:
    """Where character ``offset`` of a scalar's value is written (0-based line, column)."""
    before = str(node.value)[:offset]
    row, col = before.count("\n"), len(before) - (before.rfind("\n") + 1)
    mark = node.start_mark
    if node.style in ("|", ">"):  # the text starts on the next line, indented as its first
        first = next((t for t in lines[mark.line + 1 :] if t.strip()), "")
        return mark.line + 1 + row, len(first) - len(first.lstrip(" ")) + col
    quote = 1 if node.style in ("'", '"') else 0
    return mark.line + row, (mark.column + quote + col) if row == 0 else col


def parse_replies(text: str, source: str = "<string>") -> SavedReplies:
    """Read and check a saved-replies file's text; :class:`RepliesFileError` lists every
    problem. An empty file has no replies."""
    problems = _Problems(source, text.splitlines())
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is None:
            raise RepliesFileError((f"{source}: {exc.problem}",)) from None
        problems.at(mark.line, mark.column, f"not YAML: {exc.problem}")
        raise RepliesFileError(tuple(problems.found)) from None
    except yaml.YAMLError as exc:
        raise RepliesFileError((f"{source}: not YAML: {exc}",)) from None
    if root is None:
        return SavedReplies(source=source)
    if not isinstance(root, MappingNode):
        problems.node(root, "expected a mapping of names to texts ('thanks: Hello ...')")
        raise RepliesFileError(tuple(problems.found))
    replies: dict[str, SavedReply] = {}
    for key, value in root.value:
        reply = _reply(key, value, problems, source)
        if reply is not None and reply.name in replies:
            problems.node(key, f"'{reply.name}': a second saved reply of that name")
        elif reply is not None:
            replies[reply.name] = reply
    if problems.found:
        raise RepliesFileError(tuple(problems.found))
    return SavedReplies(replies, source)


def _reply(key: Node, value: Node, problems: _Problems, source: str) -> SavedReply | None:
    name = str(key.value).strip().lower() if isinstance(key, ScalarNode) else ""
    if not _NAME.fullmatch(name):
        problems.node(key, "a name is letters, digits, '-' and '_' (up to 64), as in #reply NAME")
        return None
    body, about = value, ""
    if isinstance(value, MappingNode):
        fields = {str(k.value): v for k, v in value.value if isinstance(k, ScalarNode)}
        unknown = sorted(set(fields) - {"text", "about"})
        if unknown or "text" not in fields:
            problems.node(
                value, f"'{name}': expected the keys text and about, got {unknown or 'no text'}"
            )
            return None
        body = fields["text"]
        about_node = fields.get("about")
        about = str(about_node.value) if isinstance(about_node, ScalarNode) else ""
    if not isinstance(body, ScalarNode) or body.tag != "tag:yaml.org,2002:str" or not body.value:
        problems.node(body, f"'{name}': expected the reply's text")
        return None
    text = str(body.value)
    if len(text) > MAX_TEXT:
        problems.node(body, f"'{name}': longer than {MAX_TEXT} characters")
        return None
    for variable, offset in unknown_variables(text):
        problems.variable(
            body,
            offset,
            f"'{name}': unknown variable ${variable} (known: "
            + ", ".join(f"${v}" for v in VARIABLES)
            + ")",
        )
    return SavedReply(name, text, about, f"{source}:{key.start_mark.line + 1}")


def load_replies(path: Path) -> SavedReplies:
    """:func:`parse_replies` on a file; an unreadable file is a RepliesFileError too."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RepliesFileError((f"{path}: not UTF-8 text",)) from None
    except OSError as exc:
        raise RepliesFileError((f"{path}: cannot read: {exc.strerror}",)) from None
    return parse_replies(text, str(path))


class RepliesSource(FileSource[SavedReplies]):
    """The saved replies in force, reloaded when the file changes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, load_replies, NONE, "saved replies")


__all__ = [
    "NONE",
    "VARIABLES",
    "RepliesFileError",
    "RepliesSource",
    "SavedReplies",
    "SavedReply",
    "load_replies",
    "parse_replies",
    "render",
    "unknown_variables",
    "values_for",
]
