"""Finding and validating command lines, without a database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from echodesk.desk.commands.parse import MAX_COMMANDS, find_commands
from echodesk.desk.commands.registry import REGISTRY, Change, check, help_text
from echodesk.desk.effects import (
    AddParticipant,
    Assign,
    Effect,
    Merge,
    SetPriority,
    SetStatus,
    Tag,
    Untag,
)


def test_leading_command_lines_are_found_with_what_mail_clients_add() -> None:
    text = (
        "\ufeff\n\n*#Assign me*\n\xa0#STATUS  Pending\n\n_#tag Billing urgent_\n\n"
        "Hello Alice,\n#this is text now\n"
    )
    found = find_commands(text)
    assert [(c.verb, c.args) for c in found.commands] == [
        ("assign", ("me",)),
        ("status", ("Pending",)),
        ("tag", ("Billing", "urgent")),
    ]
    assert found.body == "Hello Alice,\n#this is text now"


def test_text_first_means_no_commands() -> None:
    found = find_commands("Hello,\n#assign me\n")
    assert found.commands == () and found.body.startswith("Hello,")
    assert find_commands("#1 priority for us\n").commands == ()  # a number is not a verb


def test_a_wall_of_hashtags_is_text() -> None:
    text = "\n".join(f"#tag{n}" for n in range(MAX_COMMANDS + 5))
    assert find_commands(text).commands == ()


@dataclass
class Fake:
    acting_agent_id: int = 7
    ticket_id: int = 1

    def agent(self, name: str) -> tuple[int, str] | None:
        return (8, "eve@desk.test") if name in ("eve", "eve@desk.test") else None

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        return {
            "TKT-0040": (40, 40, False),
            "TKT-0041": (41, 41, True),
            "TKT-0001": (1, 1, False),
        }.get(label.upper())

    def label(self, number: int) -> str:
        return f"TKT-{number:04d}"


def _check(line: str) -> Change | str:
    (command,) = find_commands(line).commands
    return check(command, Fake())


@pytest.mark.parametrize(
    ("line", "kind", "effects"),
    [
        ("#assign me", "assign", (Assign(7),)),
        ("#assign Eve", "assign", (Assign(8),)),
        ("#assign nobody", "assign", (Assign(None),)),
        ("#unassign", "assign", (Assign(None),)),
        ("#status RESOLVED", "status", (SetStatus("resolved"),)),
        ("#close", "status", (SetStatus("closed"),)),
        ("#reopen", "status", (SetStatus("open"),)),
        ("#pending", "status", (SetStatus("pending"),)),
        ("#priority Urgent", "priority", (SetPriority("urgent"),)),
        ("#tag Billing, vip", "tag", (Tag(("billing", "vip")),)),
        ("#untag vip", "untag", (Untag(("vip",)),)),
        ("#merge tkt-0040", "merge", (Merge(40),)),
        ("#cc Someone@Example.com", "cc", (AddParticipant(("someone@example.com",)),)),
        ("#note", "note", ()),
        ("#spam", "spam", (Tag(("spam",)), SetStatus("closed"))),
        ("#help", "help", ()),
    ],
)
def test_valid_lines_become_changes(line: str, kind: str, effects: tuple[Effect, ...]) -> None:
    change = _check(line)
    assert isinstance(change, Change) and change.kind == kind
    assert change.effects == effects


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("#status finished", "unknown status 'finished'"),
        ("#status", "unknown status ''"),
        ("#assign nosuchagent", "no active agent 'nosuchagent'"),
        ("#assign", "name one agent"),
        ("#merge TKT-9999", "no ticket TKT-9999"),
        ("#merge TKT-0041", "was itself merged"),
        ("#merge TKT-0001", "merged into itself"),
        ("#priority extreme", "unknown priority"),
        ("#tag", "name at least one tag"),
        ("#tag ¡no!", "not a tag"),
        ("#cc not-an-address", "not a mail address"),
        ("#close now", "takes no arguments"),
        ("#frobnicate", "unknown command '#frobnicate'"),
    ],
)
def test_bad_lines_say_why(line: str, why: str) -> None:
    outcome = _check(line)
    assert isinstance(outcome, str) and why in outcome


def test_help_lists_every_command_with_its_description() -> None:
    text = help_text()
    for command in REGISTRY.values():
        assert command.usage in text and command.description in text


def test_the_notification_cheat_sheet_lists_every_verb() -> None:
    from echodesk.desk.outbound.notify import CHEAT_SHEET

    for command in REGISTRY.values():
        assert command.usage in CHEAT_SHEET, command.name
        assert command.usage in help_text(), command.name
    assert all(len(line) <= 78 for line in CHEAT_SHEET.splitlines()[1:-1])
