"""``echodesk agents add --catch-up``: tickets that came in before any agent existed
reach the agents' mail clients; tickets someone was already told of are left alone.
SQLite and PostgreSQL; the command runs as a person runs it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from echodesk.store.models import Ticket
from tests.support.agent import notifications
from tests.support.desk import Desk
from tests.support.mail import make_mail


def test_catch_up_notifies_of_unresolved_tickets_nobody_was_told_of(desk: Desk) -> None:
    for n, subject in enumerate(("Printer on fire", "Invoice wrong", "Thanks, solved")):
        desk.deliver(make_mail(message_id=f"early{n}@customer.test", subject=subject))
    with desk.db.transaction() as session:  # the third one was dealt with elsewhere
        session.execute(update(Ticket).where(Ticket.number == 3).values(status="resolved"))

    added = desk.cli("agents", "add", "bob@desk.test", "--name", "Bob", "--catch-up")
    assert added.returncode == 0, added.stderr
    assert "notified of 2 ticket(s)" in added.stdout
    assert "TKT-0001" in added.stdout and "TKT-0003" not in added.stdout
    desk.send_outbox()
    outbox: Path = desk.settings.data_dir / "outbox"
    subjects = sorted(str(n["Subject"]) for n in notifications(outbox, "bob@desk.test"))
    assert subjects == ["[TKT-0001] Printer on fire", "[TKT-0002] Invoice wrong"]

    again = desk.cli("agents", "add", "eve@desk.test", "--name", "Eve", "--catch-up")
    assert again.returncode == 0 and "notified of 0 ticket(s)" in again.stdout
    desk.send_outbox()
    assert notifications(outbox, "eve@desk.test") == []
