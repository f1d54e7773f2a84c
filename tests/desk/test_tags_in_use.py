"""The list's tag filter offers every tag in use, once each, in order, and no other."""

from __future__ import annotations

from sqlalchemy import select

from echodesk.store import archive, writes
from echodesk.store.models import Ticket
from tests.support.desk import Desk
from tests.support.mail import make_mail


def test_the_tags_in_use_each_once_in_order_and_a_dropped_tag_goes(desk: Desk) -> None:
    with desk.db.reading() as session:
        assert archive.all_tags(session) == []  # no tags: an empty filter, not an error
    for i in range(3):
        desk.accept(make_mail(message_id=f"t{i}@customer.test", sender=f"c{i}@customer.test"))
    desk.run_worker_until_idle()
    with desk.db.reading() as session:
        ids = list(session.scalars(select(Ticket.id).order_by(Ticket.id)))
    assert len(ids) == 3
    with desk.db.transaction() as session:
        writes.add_tags(session, ids[0], ["vip", "billing", "Ärger"])
        writes.add_tags(session, ids[1], ["billing", "zebra"])
        writes.add_tags(session, ids[2], ["billing", "a-b"])
    with desk.db.reading() as session:
        assert archive.all_tags(session) == sorted({"vip", "billing", "Ärger", "zebra", "a-b"})
    with desk.db.transaction() as session:
        writes.remove_tags(session, ids[1], ["zebra"])
        writes.remove_tags(session, ids[0], ["billing"])
    with desk.db.reading() as session:
        assert archive.all_tags(session) == sorted({"vip", "billing", "Ärger", "a-b"})
