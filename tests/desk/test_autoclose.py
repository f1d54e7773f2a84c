"""Auto-close: only tickets pending too long are closed, each once, even with two workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select, update

from echodesk.desk.jobs.autoclose import run_autoclose
from echodesk.store.models import AuditLog, Outbox, Ticket
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", autoclose_days=14)
    d.add_agent()
    try:
        yield d
    finally:
        d.close()


def _tickets(desk: Desk, count: int) -> None:
    for n in range(count):
        sender = f"Customer {n} <c{n}@customer.test>"
        desk.deliver(make_mail(message_id=f"t{n}@customer.test", sender=sender, subject=f"Q{n}"))


def _set(desk: Desk, number: int, status: str, days_ago: float) -> None:
    with desk.db.transaction() as session:
        session.execute(
            update(Ticket)
            .where(Ticket.number == number)
            .values(status=status, status_changed_at=utcnow() - timedelta(days=days_ago))
        )


def _status(desk: Desk) -> dict[int, str]:
    with desk.db.reading() as session:
        return {n: s for n, s in session.execute(select(Ticket.number, Ticket.status))}


def test_only_tickets_pending_longer_than_the_limit_are_closed(desk: Desk) -> None:
    _tickets(desk, 4)
    _set(desk, 1, "pending", 20)  # due
    _set(desk, 2, "pending", 5)  # pending, but not long enough
    _set(desk, 3, "open", 30)  # waiting for us, not for the customer
    desk.reply(4, "Could you send a photo?\n")  # pending from now on
    assert run_autoclose(desk.db, desk.ctx) == [1]
    assert _status(desk) == {1: "closed", 2: "pending", 3: "open", 4: "pending"}
    assert run_autoclose(desk.db, desk.ctx) == []  # nothing twice
    notices = [r for r in desk.outbox() if r["purpose"] == "autoclose"]
    assert [(r["rcpt"], r["state"]) for r in notices] == [("c0@customer.test", "queued")]
    desk.send_outbox()
    sent = [
        BytesParser(policy=policy.default).parsebytes(p.read_bytes())
        for p in sorted((desk.settings.data_dir / "outbox").glob("*.eml"))
    ]
    notice = next(m for m in sent if m["To"].addresses[0].addr_spec == "c0@customer.test")
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice["Subject"] == "Re: Q0 [TKT-0001]"
    body = notice.get_body(("plain",))
    assert body is not None and "TKT-0001" in str(body.get_content())
    # A customer answering the notice gets a follow-up ticket (closed_reply: followup).
    answer = make_mail(
        message_id="back@customer.test",
        sender="c0@customer.test",
        in_reply_to=str(notice["Message-ID"]).strip("<>"),
    )
    outcome = desk.deliver(answer)
    assert outcome.created_ticket and outcome.ticket_number == 5
    assert desk.ticket(5)["followup_of"] == "TKT-0001"
    with desk.db.reading() as session:
        audit = session.scalars(
            select(AuditLog.target_id).where(AuditLog.action == "tickets.autoclose")
        ).all()
    assert audit == ["1"]


def test_zero_days_means_never(desk: Desk) -> None:
    _tickets(desk, 1)
    _set(desk, 1, "pending", 400)
    desk.reconfigure(autoclose_days=0)
    assert run_autoclose(desk.db, desk.ctx) == []
    assert _status(desk) == {1: "pending"}


def test_two_workers_at_once_close_each_ticket_exactly_once(
    desk: Desk, db_url: str, tmp_path: Path
) -> None:
    _tickets(desk, 40)
    for number in range(1, 41):
        _set(desk, number, "pending", 15 if number <= 36 else 2)
    config = tmp_path / "echodesk.yaml"
    config.write_text("support_address: support@desk.test\nautoclose_days: 14\n")
    env = {
        **os.environ,
        "ECHODESK_CONFIG": str(config),
        "ECHODESK_DATA_DIR": str(desk.settings.data_dir),
        "ECHODESK_DATABASE_URL": db_url,
    }
    env.pop("DATABASE_URL", None)
    cmd = [sys.executable, "-m", "echodesk.cli", "autoclose", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    closed: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        closed += json.loads(out)["closed"]
    expected = [desk.settings.ticket_label(n) for n in range(1, 37)]
    assert sorted(closed) == expected  # every due ticket, none of them twice
    status = _status(desk)
    assert sorted(n for n, s in status.items() if s == "closed") == list(range(1, 37))
    with desk.db.reading() as session:
        notices = Counter(
            session.scalars(select(Outbox.ticket_id).where(Outbox.purpose == "autoclose"))
        )
        audits = Counter(
            session.scalars(
                select(AuditLog.target_id).where(AuditLog.action == "tickets.autoclose")
            )
        )
    assert len(notices) == 36 and set(notices.values()) == {1}
    assert sorted(audits, key=int) == [str(n) for n in range(1, 37)]
    assert set(audits.values()) == {1}
