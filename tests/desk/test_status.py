"""The ticket status transition table, exhaustively."""

from __future__ import annotations

import pytest

from echodesk.desk.tickets.status import FOLLOWUP, TRANSITIONS, Event, Status, after_customer_reply


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("policy", ["reopen", "followup"])
def test_customer_reply(status: Status, policy: str) -> None:
    result = after_customer_reply(status.value, policy)
    if status is Status.CLOSED:
        assert result == ("open" if policy == "reopen" else FOLLOWUP)
    else:
        assert result == "open"


def test_every_state_and_event_is_decided() -> None:
    undecided = [(s, e) for s in Status for e in Event if (s, e) not in TRANSITIONS]
    # Only a customer writing to a closed ticket depends on settings.
    assert undecided == [(Status.CLOSED, Event.CUSTOMER_REPLY)]


@pytest.mark.parametrize("status", list(Status))
def test_explicit_status_changes_reach_their_target(status: Status) -> None:
    assert TRANSITIONS[(status, Event.SET_PENDING)] is Status.PENDING
    assert TRANSITIONS[(status, Event.SET_CLOSED)] is Status.CLOSED
    assert TRANSITIONS[(status, Event.SET_OPEN)] is Status.OPEN
    assert TRANSITIONS[(status, Event.SET_RESOLVED)] is Status.RESOLVED
