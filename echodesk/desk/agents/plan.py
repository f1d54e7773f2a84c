"""What an agent's reply asks for: its commands validated, and the text for the customer.

Nothing here changes a ticket: :func:`plan` reads the reply and the database
and returns every change and every error, so that the caller can apply all
of them or none (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from echodesk.desk.commands import registry
from echodesk.desk.commands.parse import CommandLine, Found, find_commands
from echodesk.desk.commands.registry import Change
from echodesk.desk.context import DeskContext
from echodesk.mailbox.message import AttachmentPart, ParsedMessage
from echodesk.mailbox.trim import trim_reply
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.models import Message, Ticket

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


def _leaks_note(session: Session, ticket_id: int, text: str) -> bool:
    """Whether the text repeats an internal note's line (a quote that slipped through)."""
    notes = session.scalars(
        select(Message.body_text).where(
            Message.ticket_id == ticket_id,
            Message.direction == "internal",
            Message.kind == "note",  # a draft is meant to be sent; a bounce note is Echo's
        )
    )
    flat = " ".join(text.split())
    for note in notes:
        for line in note.split("\n"):
            words = " ".join(line.split())
            if len(words) >= 20 and words in flat:
                return True
    return False


class DbResolver:
    """Lookups for validating commands, against the database."""

    def __init__(self, session: Session, ctx: DeskContext, agent: AgentRow, ticket_id: int) -> None:
        self.session = session
        self.ctx = ctx
        self.acting_agent_id = agent.id
        self.ticket_id = ticket_id
        self._agents = active_agents(session)

    def agent(self, name: str) -> tuple[int, str] | None:
        key = name.strip().lower()
        found = self._agents.get(key)
        if found is None:
            matches = {
                a.id: a
                for a in self._agents.values()
                if a.email.partition("@")[0] == key
                or a.name.lower() == key
                or a.name.lower().split(" ")[0] == key
            }
            found = next(iter(matches.values())) if len(matches) == 1 else None
        return (found.id, found.email) if found else None

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        number = self.ctx.settings.parse_ticket_label(label)
        if number is None:
            return None
        row = self.session.execute(
            select(Ticket.id, Ticket.number, Ticket.merged_into_id).where(Ticket.number == number)
        ).first()
        return (row[0], row[1], row[2] is not None) if row else None

    def label(self, number: int) -> str:
        return self.ctx.settings.ticket_label(number)


def check_lines(
    lines: tuple[CommandLine, ...], resolver: DbResolver
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


@dataclass
class ReplyPlan:
    """An agent's reply read and checked: its commands, their errors, the customer's text."""

    changes: list[tuple[CommandLine, Change]]
    errors: list[tuple[CommandLine | None, str]]
    text: str
    files: tuple[AttachmentPart, ...]

    def has(self, kind: str) -> bool:
        return any(c.kind == kind for _, c in self.changes)


def plan(
    session: Session, ctx: DeskContext, agent: AgentRow, ticket: Ticket, msg: ParsedMessage
) -> ReplyPlan:
    """Validate every command line and what is left for the customer; apply nothing."""
    found = find_commands(msg.text)
    changes, errors = check_lines(found.commands, DbResolver(session, ctx, agent, ticket.id))
    text = customer_text(found.body)
    files = tuple(a for a in msg.attachments if not a.inline)
    result = ReplyPlan(changes, errors, text, files)
    quiet = result.has("note") or result.has("spam")
    if not errors and not text and files and not quiet:
        errors.append(
            (
                None,
                "the reply has an attachment but no text for the customer: write a few "
                "words with it, or add #note to keep it internal",
            )
        )
    if not errors and text and not quiet and _leaks_note(session, ticket.id, text):
        errors.append(
            (
                None,
                "the text for the customer repeats an internal note (quoted history?): "
                "nothing was sent; remove the quote and reply again",
            )
        )
    if not errors and not changes and not text and not files:
        errors.append((None, "the reply is empty: no command and no text for the customer"))
    return result


__all__ = ["DbResolver", "Found", "Handled", "ReplyPlan", "check_lines", "customer_text", "plan"]
