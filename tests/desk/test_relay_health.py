"""The outbound relay's health: a relay that cannot be reached is recorded as failing,
and one that takes (or refuses for good) a message is working again.

A real aiosmtpd relay (tests/support/relay.py), and a port where nothing listens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.config import RelaySettings
from echodesk.store import connectors
from echodesk.store.connectors import Connector
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.relay import RecordingRelay


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", notify_unassigned=("nobody-watches@desk.test",))
    d.add_agent()
    try:
        yield d
    finally:
        d.close()


def _relay(desk: Desk) -> Connector:
    with desk.db.reading() as session:
        (found,) = [c for c in connectors.every(session) if c.kind == "relay"]
    return found


def test_an_unreachable_relay_fails_until_it_takes_mail_again(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    dead = RelaySettings(host="127.0.0.1", port=free_port())  # nothing listens there
    desk.reconfigure(relay=dead, outbox_retry_seconds=1, outbox_max_attempts=5)
    desk.reply(1, "Anyone there?\n")
    assert [d.event for d in desk.send_outbox()] == ["deferred"]
    failing = _relay(desk)
    assert failing.name == "relay" and failing.consecutive_failures == 1
    assert "refused" in failing.last_error.lower() and failing.last_success_at is None
    with RecordingRelay() as relay:
        desk.reconfigure(
            relay=RelaySettings(host="127.0.0.1", port=relay.port), outbox_retry_seconds=1
        )
        time.sleep(1.2)
        assert [d.event for d in desk.send_outbox()] == ["sent"]
    working = _relay(desk)
    assert not working.failing and working.failing_since is None
    assert working.last_success_at is not None and working.moved_24h == 1


def test_a_relay_that_refuses_a_recipient_for_good_is_working(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="m1@customer.test"))
    with RecordingRelay(answers=["550 5.1.1 no such user"]) as relay:
        desk.reconfigure(relay=RelaySettings(host="127.0.0.1", port=relay.port))
        desk.reply(1, "Hello?\n")
        assert [d.event for d in desk.send_outbox()] == ["rejected"]
    refused = _relay(desk)
    assert not refused.failing and refused.last_success_at is not None
