"""An IMAP connection that dies in the middle of a FETCH loses and doubles nothing.

Between the poller and a real Dovecot sits a TCP proxy that, when told, cuts
the connection after part of a ``FETCH BODY.PEEK[]`` answer has gone through,
as a flaky network or a server crash would. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from echodesk.mailbox.imap import ImapPoller
from echodesk.store import connectors
from echodesk.store.connectors import DbHealth
from echodesk.store.imap_state import DbCursor
from tests.mailbox.test_imap import account_for
from tests.support.desk import Desk
from tests.support.dovecot import Dovecot
from tests.support.mail import make_mail

_users = itertools.count(1)


class CuttingProxy:
    """Forwards one port to Dovecot; with ``cut_after`` set, drops the first connection
    whose server-to-client bytes pass that many after the client asked for bodies."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_after: int | None = None
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            state = {"fetching": False, "sent": 0}
            threading.Thread(target=self._pipe, args=(client, server, state, True)).start()
            threading.Thread(target=self._pipe, args=(server, client, state, False)).start()

    def _pipe(
        self, src: socket.socket, dst: socket.socket, state: dict[str, Any], upstream: bool
    ) -> None:
        try:
            while data := src.recv(16384):
                if upstream and b"BODY.PEEK[]" in data:
                    state["fetching"] = True
                if not upstream and state["fetching"] and self.cut_after is not None:
                    state["sent"] += len(data)
                    if state["sent"] > self.cut_after:
                        self.cut_after, self.cuts = None, self.cuts + 1
                        dst.sendall(data[: len(data) // 2])  # half a literal, then nothing
                        raise ConnectionResetError
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def proxy(dovecot: Dovecot) -> Iterator[CuttingProxy]:
    running = CuttingProxy((dovecot.host, dovecot.port))
    try:
        yield running
    finally:
        running.close()


def test_a_connection_cut_mid_fetch_is_a_recorded_error_and_the_next_poll_takes_all_once(
    dovecot: Dovecot, proxy: CuttingProxy, desk: Desk
) -> None:
    user = f"cut{next(_users)}@desk.test"
    filler = "The printer says: " + "x" * 70 + "\n"
    ids = [f"cut{n}@customer.test" for n in range(6)]
    with dovecot.client(user) as owner:
        for n, message_id in enumerate(ids):
            owner.append(
                "INBOX", make_mail(message_id=message_id, subject=f"Big {n}", body=filler * 400)
            )
    account = account_for(dovecot, user, port=proxy.port)
    poller = ImapPoller(
        account, desk.intake.accept, DbCursor(desk.db), health=DbHealth(desk.db, "imap")
    )
    proxy.cut_after = 60_000  # inside the first chunk of bodies
    with pytest.raises(Exception):  # noqa: B017 - whatever the socket raises
        poller.poll_once()
    assert proxy.cuts == 1
    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert record.failing and record.last_error

    poller.poll_once()
    poller.close()
    desk.run_worker_until_idle()
    spooled = [row["message_id"] for row in desk.spool()]
    assert sorted(spooled) == sorted(ids)  # every message, each once
    assert len(desk.tickets()) == len(ids)
    with desk.db.reading() as session:
        (record,) = connectors.every(session)
    assert not record.failing
