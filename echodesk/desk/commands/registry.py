"""The email commands: one small object per verb, registered by name.

Each command turns its arguments into a :class:`Change` (the effects to carry
out, :mod:`echodesk.desk.effects`) or an error message saying why not; it
never touches the ticket. All lines of
a reply are validated first and applied together only if every one of them
is valid (:mod:`echodesk.desk.agents.mail`). ``#help`` and the notification's
cheat-sheet come from the descriptions here.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from echodesk.desk.commands.parse import CommandLine
from echodesk.desk.effects import (
    AddParticipant,
    Assign,
    Effect,
    Follow,
    Merge,
    Remind,
    SetPriority,
    SetStatus,
    Snooze,
    Tag,
    Untag,
)
from echodesk.statuses import PRIORITIES, STATUSES, Status

_TAG_RE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,49}")
_ADDRESS_RE = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


@dataclass(frozen=True)
class Change:
    """What one command line asks for, as effects; ``summary`` says it in words.

    ``#note`` and ``#help`` change no ticket: they have no effects, only a kind
    that says what to do with the reply.
    """

    kind: str
    summary: str
    effects: tuple[Effect, ...] = ()
    #: A saved reply's text (``#reply NAME``), variables not yet filled in.
    insert: str = ""


class Resolver(Protocol):
    """What validating a command may look up (agents, tickets)."""

    acting_agent_id: int
    ticket_id: int

    def agent(self, name: str) -> tuple[int, str] | None:
        """(id, address) of the active agent named by address, local part or name."""
        ...

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        """(id, number, merged) of the ticket a label such as TKT-0040 names."""
        ...

    def label(self, number: int) -> str: ...

    def saved_reply(self, name: str) -> str | None:
        """The text of the saved reply called ``name``; None if there is none."""
        ...

    def when(self, words: tuple[str, ...]) -> datetime | str:
        """The UTC moment words like ``3d`` or ``monday 9:00`` name, or why they name none."""
        ...


Checked = Change | str  # a change, or why the line cannot be applied


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    description: str
    check: Callable[[tuple[str, ...], Resolver], Checked]


def _assign(args: tuple[str, ...], r: Resolver) -> Checked:
    if len(args) != 1:
        return "name one agent, 'me' or 'nobody'"
    who = args[0].lower()
    if who == "me":
        return Change("assign", "assign to you", (Assign(r.acting_agent_id),))
    if who in ("nobody", "none"):
        return Change("assign", "unassign", (Assign(None),))
    found = r.agent(who)
    if found is None:
        return f"no active agent '{args[0]}'"
    return Change("assign", f"assign to {found[1]}", (Assign(found[0]),))


def _status(args: tuple[str, ...], _r: Resolver) -> Checked:
    if len(args) != 1 or args[0].lower() not in STATUSES:
        shown = args[0] if args else ""
        return f"unknown status '{shown}' (use {', '.join(STATUSES)})"
    return _set_status(args[0].lower())


def _set_status(status: str) -> Change:
    return Change("status", f"status {status}", (SetStatus(status),))


def _fixed_status(status: str) -> Callable[[tuple[str, ...], Resolver], Checked]:
    def check(args: tuple[str, ...], _r: Resolver) -> Checked:
        if args:
            return f"takes no arguments (did you mean #status {status}?)"
        return _set_status(status)

    return check


def _tags(kind: str) -> Callable[[tuple[str, ...], Resolver], Checked]:
    def check(args: tuple[str, ...], _r: Resolver) -> Checked:
        tags = tuple(dict.fromkeys(a.lower().strip(",") for a in args if a.strip(",")))
        if not tags:
            return "name at least one tag"
        bad = [t for t in tags if not _TAG_RE.fullmatch(t)]
        if bad:
            return f"not a tag: {', '.join(bad)} (letters, digits, - _ . : only)"
        verb = "add tag" if kind == "tag" else "remove tag"
        effect = Tag(tags) if kind == "tag" else Untag(tags)
        return Change(kind, f"{verb}{'s' if len(tags) > 1 else ''} {' '.join(tags)}", (effect,))

    return check


def _priority(args: tuple[str, ...], _r: Resolver) -> Checked:
    if len(args) != 1 or args[0].lower() not in PRIORITIES:
        shown = args[0] if args else ""
        return f"unknown priority '{shown}' (use {', '.join(PRIORITIES)})"
    return Change("priority", f"priority {args[0].lower()}", (SetPriority(args[0].lower()),))


def _note(args: tuple[str, ...], _r: Resolver) -> Checked:
    return Change("note", "keep the reply as an internal note (nothing is sent)")


def _merge(args: tuple[str, ...], r: Resolver) -> Checked:
    if len(args) != 1:
        return f"name the ticket to merge into, like {r.label(40)}"
    found = r.ticket(args[0])
    if found is None:
        return f"no ticket {args[0]}"
    target, number, merged = found
    if target == r.ticket_id:
        return "a ticket cannot be merged into itself"
    if merged:
        return f"{r.label(number)} was itself merged into another ticket; merge into that one"
    return Change("merge", f"merge into {r.label(number)}", (Merge(target),))


def _cc(args: tuple[str, ...], _r: Resolver) -> Checked:
    if not args:
        return "name an address to copy"
    addresses = tuple(a.strip("<>,;").lower() for a in args)
    bad = [a for a in addresses if not _ADDRESS_RE.fullmatch(a)]
    if bad:
        return f"not a mail address: {', '.join(bad)}"
    return Change("cc", f"copy {', '.join(addresses)} on replies", (AddParticipant(addresses),))


def _spam(args: tuple[str, ...], _r: Resolver) -> Checked:
    return Change(
        "spam",
        "mark as spam: tag spam, close, send nothing",
        (Tag(("spam",)), SetStatus(Status.CLOSED.value)),
    )


def _reply(args: tuple[str, ...], r: Resolver) -> Checked:
    if len(args) != 1:
        return "#reply takes the name of one saved reply (#help lists them)"
    text = r.saved_reply(args[0])
    if text is None:
        return f"no saved reply named '{args[0]}' (#help lists them)"
    return Change("reply", f"insert the saved reply {args[0].lower()}", insert=text)


def _snooze(args: tuple[str, ...], r: Resolver) -> Checked:
    until = r.when(args)
    if isinstance(until, str):
        return f"#snooze {until}"
    return Change("snooze", f"snooze until {until:%Y-%m-%d %H:%M} UTC", (Snooze(until),))


def _unsnooze(args: tuple[str, ...], _r: Resolver) -> Checked:
    return Change("snooze", "wake the ticket now", (Snooze(None),))


def _remind(args: tuple[str, ...], r: Resolver) -> Checked:
    """``#remind WHEN [text]``: WHEN is one or two words (``2d``, ``monday 9:00``)."""
    for size in (2, 1):
        if len(args) < size:
            continue
        at = r.when(args[:size])
        if not isinstance(at, str):
            text = " ".join(args[size:])
            summary = f"remind you at {at:%Y-%m-%d %H:%M} UTC" + (f": {text}" if text else "")
            return Change("remind", summary, (Remind(r.acting_agent_id, at, text),))
    return f"#remind {r.when(args[:1])}" if args else "#remind needs a time (like 2d)"


def _follow(following: bool) -> Callable[[tuple[str, ...], Resolver], Checked]:
    def check(args: tuple[str, ...], r: Resolver) -> Checked:
        verb = "follow" if following else "unfollow"
        if len(args) > 1:
            return f"#{verb} takes one agent at most (default: you)"
        who = r.agent(args[0]) if args and args[0].lower() != "me" else None
        if args and args[0].lower() != "me" and who is None:
            return f"no active agent '{args[0]}'"
        agent_id, name = who if who else (r.acting_agent_id, "you")
        doing = "follow" if following else "stop following"
        return Change(verb, f"{name}: {doing} the ticket", (Follow(agent_id, following),))

    return check


def _held(verb: str, summary: str) -> Callable[[tuple[str, ...], Resolver], Checked]:
    def check(args: tuple[str, ...], _r: Resolver) -> Checked:
        return Change(verb, summary) if not args else f"#{verb} takes nothing more"

    return check


def _help(args: tuple[str, ...], _r: Resolver) -> Checked:
    return Change("help", "send you the list of commands")


_COMMANDS = (
    Command("assign", "#assign me | <agent> | nobody", "give the ticket to an agent", _assign),
    Command("status", "#status open|pending|resolved|closed", "set the status", _status),
    Command("open", "#open", "set the status to open", _fixed_status("open")),
    Command("pending", "#pending", "wait for the customer", _fixed_status("pending")),
    Command("resolve", "#resolve", "set the status to resolved", _fixed_status("resolved")),
    Command("close", "#close", "set the status to closed", _fixed_status("closed")),
    Command("tag", "#tag <tag> [<tag>...]", "add tags", _tags("tag")),
    Command("untag", "#untag <tag> [<tag>...]", "remove tags", _tags("untag")),
    Command("priority", "#priority low|normal|high|urgent", "set the priority", _priority),
    Command("note", "#note", "keep the whole reply internal (never sent)", _note),
    Command("merge", "#merge TKT-0040", "merge this ticket into another one", _merge),
    Command("cc", "#cc <address> [<address>...]", "copy someone on replies", _cc),
    Command("spam", "#spam", "close as spam without answering", _spam),
    Command("reply", "#reply <name>", "insert a saved reply (here, or where the line is)", _reply),
    Command(
        "snooze", "#snooze 3d|tomorrow|monday 9:00", "put the ticket to sleep until then", _snooze
    ),
    Command("unsnooze", "#unsnooze", "wake a snoozed ticket now", _unsnooze),
    Command("remind", "#remind 2d [text]", "mail you a reminder on this ticket then", _remind),
    Command("send", "#send", "send your held reply as it is", _held("send", "send the held reply")),
    Command("discard", "#discard", "drop your held reply", _held("discard", "drop the held reply")),
    Command("follow", "#follow [agent]", "get colleagues' replies to the customer", _follow(True)),
    Command("unfollow", "#unfollow [agent]", "stop getting them", _follow(False)),
    Command("help", "#help", "answer with this list", _help),
)

REGISTRY: dict[str, Command] = {c.name: c for c in _COMMANDS}
ALIASES = {"unassign": "assign", "reopen": "open", "resolved": "resolve", "closed": "close"}


def lookup(verb: str) -> Command | None:
    return REGISTRY.get(ALIASES.get(verb, verb))


def check(line: CommandLine, resolver: Resolver) -> Checked:
    """Validate one line: its change, or why it cannot be applied."""
    command = lookup(line.verb)
    if command is None:
        return f"unknown command '#{line.verb}' (#help lists them)"
    if line.verb == "unassign":
        return command.check(("nobody",), resolver)
    return command.check(line.args, resolver)


def help_text(saved: Sequence[str] = ()) -> str:
    """The list of commands with what each does (for #help and documentation), and the
    saved replies' names."""
    width = max(len(c.usage) for c in _COMMANDS)
    rows = [f"  {c.usage:<{width}}  {c.description}" for c in _COMMANDS]
    text = (
        "Echo's email commands go on the first lines of your reply, one per line, "
        "before any other text. Everything after them goes to the customer "
        "(unless #note).\n\n" + "\n".join(rows)
    )
    if saved:
        text += "\n\nSaved replies (#reply NAME):\n" + "\n".join(f"  {n}" for n in saved)
    return text


def cheat_sheet(width: int = 78, saved: Sequence[str] = ()) -> str:
    """The short list every notification ends with, packed from the verbs' usages.

    Written from the registry, so a new verb shows up in every notification
    and in ``#help`` without a second list to keep in step.
    """
    rows: list[str] = []
    line = ""
    for command in _COMMANDS:
        if line and len(line) + 2 + len(command.usage) > width:
            rows.append(line)
            line = ""
        line = f"{line}  {command.usage}"
    rows.append(line)
    replies = "".join(
        f"\n{row}"
        for row in textwrap.wrap("Saved replies (#reply NAME): " + ", ".join(saved), width)
    )
    return (
        "Commands go on the first lines of your reply, before any other text:\n"
        + "\n".join(rows)
        + "\nEverything after the commands goes to the customer (unless #note)."
        + replies
    )
