"""A mailbox that stops working is seen: the poller records every pass, and
``echodesk status`` (and /metrics) tell when a failure has lasted too long.

Real Dovecot on a loopback port; the health rows are the real table, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import update

from echodesk.mailbox.imap import ImapPoller
from echodesk.store import connectors
from echodesk.store.connectors import DbHealth
from echodesk.store.health import snapshot
from echodesk.store.imap_state import DbCursor
from echodesk.store.models import ConnectorHealth
from echodesk.store.types import utcnow
from tests.mailbox.test_imap import account_for
from tests.support.desk import Desk
from tests.support.dovecot import Dovecot
from tests.support.mail import make_mail

_users = itertools.count(1)


def _poller(server: Dovecot, user: str, desk: Desk, **changes: str) -> ImapPoller:
    return ImapPoller(
        account_for(server, user, **changes),
        desk.intake.accept,
        DbCursor(desk.db),
        health=DbHealth(desk.db, "imap"),
    )


def _record(desk: Desk) -> connectors.Connector:
    with desk.db.reading() as session:
        (found,) = connectors.every(session)
    return found


def test_a_failing_mailbox_is_recorded_and_needs_a_person_only_after_alert_after(
    dovecot: Dovecot, desk: Desk
) -> None:
    user = f"health{next(_users)}@desk.test"
    with dovecot.client(user) as other:
        other.append("INBOX", make_mail(message_id="h1@customer.test"))
    poller = _poller(dovecot, user, desk)
    assert poller.poll_once() == 1
    poller.close()
    worked = _record(desk)
    assert worked.name == "imap:support/INBOX" and not worked.failing
    assert worked.last_success_at is not None and worked.moved_24h == 1

    refused = _poller(dovecot, user, desk, password="wrong")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - the login is refused
            refused.poll_once()
    failing = _record(desk)
    assert failing.failing and failing.consecutive_failures == 2
    assert "login" in failing.last_error.lower() or "auth" in failing.last_error.lower()
    assert failing.last_success_at == worked.last_success_at

    assert snapshot(desk.db).problems == []  # two failures a moment ago: the weather
    late = snapshot(desk.db, alert_after=timedelta(0))
    assert any(p.startswith("imap:support/INBOX failing since") for p in late.problems)

    with desk.db.transaction() as session:  # the run of failures began an hour ago
        since = utcnow() - timedelta(hours=1)
        session.execute(update(ConnectorHealth).values(failing_since=since))
    assert any("imap:support/INBOX" in p for p in snapshot(desk.db).problems)

    healed = _poller(dovecot, user, desk)
    assert healed.poll_once() == 0
    healed.close()
    back = _record(desk)
    assert not back.failing and back.failing_since is None
    assert back.last_error == failing.last_error  # kept, for whoever looks later
    assert snapshot(desk.db).problems == []


def test_a_folder_that_is_gone_is_a_recorded_error_and_loses_nothing(
    dovecot: Dovecot, desk: Desk
) -> None:
    user = f"health{next(_users)}@desk.test"
    with dovecot.client(user) as other:
        other.append("INBOX", make_mail(message_id="kept@customer.test"))
    gone = _poller(dovecot, user, desk, folder="Deleted-Folder")
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - the folder cannot be selected
            gone.poll_once()
    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert record.name == "imap:support/Deleted-Folder" and record.consecutive_failures == 2
    assert "Deleted-Folder" in record.last_error or "select" in record.last_error.lower()
    assert desk.spool() == []  # nothing was taken from anywhere
    late = snapshot(desk.db, alert_after=timedelta(0))
    assert any(p.startswith("imap:support/Deleted-Folder failing") for p in late.problems)
    inbox = _poller(dovecot, user, desk)
    assert inbox.poll_once() == 1  # the mail waited where it was
    inbox.close()
