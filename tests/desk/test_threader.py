"""The threading rules as a pure function, against an in-memory archive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from echodesk.desk.threader import (
    ThreadingKeys,
    find_ticket,
    subject_tag,
    subject_tag_pattern,
)


@dataclass
class Archive:
    """A tiny archive: which ticket holds which Message-ID, who takes part where."""

    messages: dict[str, int] = field(default_factory=dict)
    children: dict[str, list[int]] = field(default_factory=dict)
    numbers: dict[int, int] = field(default_factory=dict)
    participants: dict[int, set[str]] = field(default_factory=dict)

    def tickets_by_message_ids(self, ids: Sequence[str]) -> Mapping[str, int]:
        return {mid: self.messages[mid] for mid in ids if mid in self.messages}

    def tickets_replying_to(self, message_id: str) -> Sequence[int]:
        return self.children.get(message_id, [])

    def ticket_by_number(self, number: int) -> int | None:
        return self.numbers.get(number)

    def is_participant(self, ticket_id: int, email: str) -> bool:
        return email in self.participants.get(ticket_id, set())

    def ticket_by_id(self, ticket_id: int) -> int | None:
        known = {*self.messages.values(), *self.numbers.values()}
        return ticket_id if ticket_id in known else None


def keys(**kw: object) -> ThreadingKeys:
    base: dict[str, object] = {
        "message_id": "new@x",
        "in_reply_to": (),
        "references": (),
        "subject_tag": None,
        "sender": "alice@c.test",
    }
    base.update(kw)
    return ThreadingKeys(**base)  # type: ignore[arg-type]


def test_a_signed_reply_address_beats_every_header() -> None:
    archive = Archive(messages={"a@x": 1}, numbers={7: 7})
    match = find_ticket(keys(reply_ticket=7, in_reply_to=("a@x",), subject_tag=1), archive)
    assert (match.ticket_id, match.reason) == (7, "signed reply address")


def test_a_reply_address_naming_no_ticket_falls_back_to_the_headers() -> None:
    archive = Archive(messages={"a@x": 1})
    match = find_ticket(keys(reply_ticket=99, in_reply_to=("a@x",)), archive)
    assert (match.ticket_id, match.reason) == (1, "In-Reply-To <a@x>")


def test_in_reply_to_wins_over_references() -> None:
    archive = Archive(messages={"a@x": 1, "b@x": 2})
    match = find_ticket(keys(in_reply_to=("b@x",), references=("a@x",)), archive)
    assert (match.ticket_id, match.reason) == (2, "In-Reply-To <b@x>")


def test_references_are_tried_nearest_first_and_all_of_them() -> None:
    archive = Archive(messages={"root@x": 1, "mid@x": 3})
    refs = ("root@x", "mid@x", "unknown@x")
    match = find_ticket(keys(in_reply_to=("unknown@x",), references=refs), archive)
    assert (match.ticket_id, match.reason) == (3, "References <mid@x>")
    only_root = find_ticket(keys(references=("root@x", "gone1@x", "gone2@x")), archive)
    assert only_root.ticket_id == 1


def test_headers_beat_a_subject_tag() -> None:
    archive = Archive(messages={"a@x": 1}, numbers={7: 7}, participants={7: {"alice@c.test"}})
    assert find_ticket(keys(in_reply_to=("a@x",), subject_tag=7), archive).ticket_id == 1


def test_a_message_naming_itself_is_not_threaded_by_itself() -> None:
    archive = Archive(messages={"new@x": 4})
    assert find_ticket(keys(references=("new@x",)), archive).ticket_id is None


def test_a_late_parent_joins_its_early_reply() -> None:
    archive = Archive(children={"new@x": [5, 6]})
    match = find_ticket(keys(), archive)
    assert match.ticket_id == 5 and "arrived first" in match.reason


def test_subject_tag_needs_a_participant() -> None:
    archive = Archive(numbers={42: 9}, participants={9: {"alice@c.test"}})
    assert find_ticket(keys(subject_tag=42), archive).ticket_id == 9
    stranger = find_ticket(keys(subject_tag=42, sender="eve@evil.test"), archive)
    assert stranger.ticket_id is None and stranger.mentioned == 42
    nobody = find_ticket(keys(subject_tag=42, sender=""), archive)
    assert nobody.ticket_id is None


def test_subject_tag_naming_no_ticket_opens_a_new_one() -> None:
    match = find_ticket(keys(subject_tag=99), Archive())
    assert match.ticket_id is None and match.mentioned == 99


def test_no_clue_opens_a_new_ticket() -> None:
    assert find_ticket(keys(), Archive()).reason == "new ticket"


def test_subject_tags_are_found_with_an_escaped_prefix() -> None:
    pattern = subject_tag_pattern("TKT")
    assert subject_tag("Re: [TKT-0042] printer", pattern) == 42
    assert subject_tag("Re: [tkt-7]", pattern) == 7
    assert subject_tag("TKT-0042 without brackets", pattern) is None
    assert subject_tag("[TKT-]", pattern) is None
    dotted = subject_tag_pattern("A.B")
    assert subject_tag("[A.B-5]", dotted) == 5
    assert subject_tag("[AxB-5]", dotted) is None  # the dot is literal, not "any character"
