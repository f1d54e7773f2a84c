"""What an agent's reply asks for: its commands validated, and the text for the customer.

Nothing here reads the database or changes a ticket: :func:`plan` reads the
reply and what the batch index preloaded (agents, tickets by number, the
ticket's internal notes) and returns every change and every error, so that
the caller can apply all of them or none (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from echodesk.config import Settings
from echodesk.desk.batch import BatchIndex
from echodesk.desk.commands import registry
from echodesk.desk.commands.parse import CommandLine, Found, command_of, find_commands
from echodesk.desk.commands.registry import Change, Resolver
from echodesk.desk.commands.when import moment
from echodesk.desk.savedreplies import NONE, SavedReplies
from echodesk.mailbox.message import AttachmentPart, ParsedMessage
from echodesk.mailbox.trim import trim_reply
from echodesk.store.lookups import AgentRow
from echodesk.store.types import utcnow

_MARKER_CORE = "Reply above this line"


@dataclass
class Handled:
    """What became of one agent message (for the spool row and the audit log)."""

    kind: str
    reason: str
    ticket_id: int | None = None
    ticket_number: int | None = None
    changes: list[str] = field(default_factory=list)


# -- what it says ------------------------------------------------------------------


def customer_text(body: str) -> str:
    """The part of an agent's reply meant for the customer.

    Cut at the notification's marker line (quoted or not: whatever follows is the
    notification itself), then at quoted history and signature. A reply with
    nothing of its own left gives "" (never the quoted history).
    """
    lines = body.split("\n")
    cut = next((i for i, line in enumerate(lines) if _MARKER_CORE in line), len(lines))
    text = "\n".join(lines[:cut])
    return trim_reply(text, keep_if_empty=False).text


def leaks_note(notes: Sequence[str], text: str) -> bool:
    """Whether the text repeats a line of one of the ticket's internal notes.

    A quote of a note that slipped past trimming would show the customer what
    agents wrote among themselves; a line of 20 characters or more is enough
    to tell.
    """
    flat = " ".join(text.split())
    for note in notes:
        for line in note.split("\n"):
            words = " ".join(line.split())
            if len(words) >= 20 and words in flat:
                return True
    return False


def match_agent(agents: Mapping[str, AgentRow], name: str) -> AgentRow | None:
    """The agent a command names: an address (or alias), or a local part, full or first
    name that only one agent has."""
    key = name.strip().lower()
    found = agents.get(key)
    if found is None:
        matches = {
            a.id: a
            for a in agents.values()
            if a.email.partition("@")[0] == key
            or a.name.lower() == key
            or a.name.lower().split(" ")[0] == key
        }
        found = next(iter(matches.values())) if len(matches) == 1 else None
    return found


class Lookups:
    """What every resolver answers alike: saved replies, moments, ticket labels."""

    def __init__(
        self, settings: Settings, replies: SavedReplies, now: datetime | None = None
    ) -> None:
        self.settings = settings
        self.replies = replies
        self.now = now or utcnow()

    def saved_reply(self, name: str) -> str | None:
        found = self.replies.get(name)
        return found.text if found is not None else None

    def when(self, words: tuple[str, ...]) -> datetime | str:
        return moment(words, self.now, self.settings.timezone, self.settings.business_hours)

    def label(self, number: int) -> str:
        return self.settings.ticket_label(number)


class IndexResolver(Lookups):
    """Lookups for validating commands, in what the batch index preloaded."""

    def __init__(
        self,
        index: BatchIndex,
        settings: Settings,
        agent: AgentRow,
        ticket: int,
        replies: SavedReplies = NONE,
        now: datetime | None = None,
    ) -> None:
        super().__init__(settings, replies, now)
        self.index = index
        self.acting_agent_id = agent.id
        self.ticket_id = ticket

    def agent(self, name: str) -> tuple[int, str] | None:
        found = match_agent(self.index.agent_rows, name)
        return (found.id, found.email) if found else None

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        number = self.settings.parse_ticket_label(label)
        key = self.index.by_number.get(number) if number is not None else None
        if key is None:
            return None
        state = self.index.tickets[key]
        return (state.key, number, state.merged_into is not None) if number is not None else None


def check_lines(
    lines: tuple[CommandLine, ...], resolver: Resolver
) -> tuple[list[tuple[CommandLine, Change]], list[tuple[CommandLine | None, str]]]:
    """Every line's change, and every line's error."""
    changes: list[tuple[CommandLine, Change]] = []
    errors: list[tuple[CommandLine | None, str]] = []
    for line in lines:
        outcome = registry.check(line, resolver)
        if isinstance(outcome, str):
            errors.append((line, outcome))
        else:
            changes.append((line, outcome))
    return changes, errors


def _with_saved_replies(
    text: str,
    changes: list[tuple[CommandLine, Change]],
    errors: list[tuple[CommandLine | None, str]],
    resolver: Resolver,
) -> tuple[str, bool]:
    """The text with each ``#reply NAME`` in place: as a first line's command, above the
    agent's words; as a line among them, where that line stands (unknown names: errors).
    Whether any was put in."""
    lines = text.split("\n")
    inline = False
    for i, raw in enumerate(lines):
        line = command_of(raw) if raw.lstrip().lower().startswith("#reply") else None
        if line is None or line.verb != "reply":
            continue
        checked = registry.check(line, resolver)
        if isinstance(checked, str):
            errors.append((line, checked))
        else:
            lines[i], inline = checked.insert.strip("\n"), True
    above = [change.insert.strip("\n") for _, change in changes if change.kind == "reply"]
    if not above and not inline:
        return text, False
    own = "\n".join(lines).strip("\n")
    return "\n\n".join([*above, own] if own else above), True


@dataclass(frozen=True)
class ReplyPlan:
    """An agent's reply read and checked: its commands, their errors, the customer's text."""

    changes: tuple[tuple[CommandLine, Change], ...]
    errors: tuple[tuple[CommandLine | None, str], ...]
    text: str
    files: tuple[AttachmentPart, ...]
    #: The text holds saved replies, whose variables are filled in when it is applied.
    saved: bool = False

    def has(self, kind: str) -> bool:
        return any(c.kind == kind for _, c in self.changes)


def plan(msg: ParsedMessage, resolver: Resolver, notes: Sequence[str]) -> ReplyPlan:
    """Validate every command line and what is left for the customer; apply nothing."""
    found = find_commands(msg.text)
    files = tuple(a for a in msg.attachments if not a.inline)
    return checked_plan(found.commands, customer_text(found.body), files, resolver, notes)


def checked_plan(
    commands: tuple[CommandLine, ...],
    text: str,
    files: tuple[AttachmentPart, ...],
    resolver: Resolver,
    notes: Sequence[str],
) -> ReplyPlan:
    """The plan of these command lines and this text for the customer, every error named
    (by mail or from ``echodesk do``: one set of rules)."""
    changes, errors = check_lines(commands, resolver)
    text, saved = _with_saved_replies(text, changes, errors, resolver)
    quiet = any(c.kind in ("note", "spam") for _, c in changes)
    if not errors and not text and files and not quiet:
        errors.append(
            (
                None,
                "the reply has an attachment but no text for the customer: write a few "
                "words with it, or add #note to keep it internal",
            )
        )
    if not errors and text and not quiet and leaks_note(notes, text):
        errors.append(
            (
                None,
                "the text for the customer repeats an internal note (quoted history?): "
                "nothing was sent; remove the quote and reply again",
            )
        )
    if not errors and not changes and not text and not files:
        errors.append((None, "the reply is empty: no command and no text for the customer"))
    return ReplyPlan(tuple(changes), tuple(errors), text, files, saved)


__all__ = [
    "Found",
    "Handled",
    "IndexResolver",
    "ReplyPlan",
    "check_lines",
    "checked_plan",
    "customer_text",
    "match_agent",
    "plan",
]
