"""PostgreSQL keeps each ticket's words (``ticket_words``): every write of a message
keeps them equal to the words of the ticket's messages, erased words included."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from echodesk.desk.tickets.changes import merge_into
from echodesk.store import lookups, searchindex, tickets, writes
from echodesk.store.models import Message
from echodesk.store.search import search
from echodesk.store.searchterms import BUDGETS
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", flood_limit=0)
    d.add_agent("bob@desk.test", "Bob Agent")
    for n, (subject, body) in enumerate(
        [("Printer jammed", "The paper tray is stuck."), ("Invoice", "Wrong total, please fix.")]
    ):
        d.deliver(
            make_mail(
                message_id=f"w{n}@a.test",
                sender=f"c{n}@shop.example",
                subject=subject,
                body=body,
            )
        )
    yield d
    d.close()


def _kept(session: Session, number: int) -> set[str] | None:
    words = session.execute(
        text(
            "SELECT w.words FROM ticket_words w JOIN tickets t ON t.id = w.ticket_id "
            "WHERE t.number = :n"
        ),
        {"n": number},
    ).scalar_one()
    return (
        None
        if words is None
        else set(
            session.execute(
                text("SELECT lexeme FROM unnest(CAST(:w AS tsvector))"), {"w": words}
            ).scalars()
        )
    )


def _truth(session: Session, number: int) -> set[str]:
    """Every word of the ticket's messages, read from their own search vectors."""
    return set(
        session.execute(
            text(
                "SELECT DISTINCT u.lexeme FROM messages m JOIN tickets t ON t.id = m.ticket_id, "
                "unnest(m.search_vector) u WHERE t.number = :n"
            ),
            {"n": number},
        ).scalars()
    )


def test_each_write_keeps_the_tickets_words(desk: Desk) -> None:
    with desk.db.reading() as session:
        assert {"printer", "paper", "tray", "shop"} <= (_kept(session, 1) or set())
        assert _kept(session, 1) == _truth(session, 1)
    desk.reply(1, "Open the rear cover and pull the sheet gently.")  # an agent's reply (ORM)
    desk.deliver(  # the customer answers (the batch path)
        make_mail(
            message_id="w9@a.test",
            sender="c0@shop.example",
            subject="Re: Printer jammed",
            body="The cover is open, the sheet is out. Thanks!",
            in_reply_to="w0@a.test",
        )
    )
    with desk.db.reading() as session:
        kept = _kept(session, 1) or set()
        assert {"rear", "gently", "thanks"} <= kept
        assert kept == _truth(session, 1)
        assert _kept(session, 2) == _truth(session, 2)
        assert "gently" not in (_kept(session, 2) or set())


def test_erased_words_leave_the_tickets_words(desk: Desk) -> None:
    with desk.db.transaction() as session:
        session.execute(update(Message).where(Message.ticket_id == 2).values(body_text="gone"))
        ids = session.scalars(select(Message.id).where(Message.ticket_id == 2)).all()
        searchindex.reindex(session, ids)
    with desk.db.reading() as session:
        kept = _kept(session, 2) or set()
        assert "total" not in kept and "gone" in kept
        assert kept == _truth(session, 2)
        assert search(session, "wrong total").total == 0
        assert search(session, "invoice gone").total == 1


def test_a_tickets_tags_are_among_its_words(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    """A word that names a tag finds the tagged ticket through its words (tags kept as
    "#tag"), also when no message has the word; untagged, it no longer does."""
    forced = replace(BUDGETS["postgresql"], rank_limit=-1, set_ms=-1.0)
    monkeypatch.setitem(BUDGETS, "postgresql", forced)
    with desk.db.transaction() as session:
        writes.add_tags(session, 2, ["billing", "it's"])
    with desk.db.reading() as session:
        kept = _kept(session, 2) or set()
        assert {"#billing", "#it's", "total"} <= kept and kept - _truth(session, 2) == {
            "#billing",
            "#it's",
        }
        assert [h.number for h in search(session, "billing total").hits] == [2]
        assert [h.number for h in search(session, "it's total").hits] == [2]
        assert search(session, "billing printer").total == 0
    with desk.db.transaction() as session:
        writes.remove_tags(session, 2, ["billing"])
    with desk.db.reading() as session:
        assert "#billing" not in (_kept(session, 2) or set())
        assert search(session, "billing total").total == 0


def test_a_merge_moves_the_words_with_the_messages(desk: Desk) -> None:
    """Merging ticket 2 into ticket 1 moves its messages' words there: the merged
    ticket's words are found in the ticket it was merged into."""
    with desk.db.transaction() as session:
        source = tickets.by_number(session, 2)
        target = tickets.by_number(session, 1)
        assert source is not None and target is not None
        agent = lookups.active_agents(session)["bob@desk.test"]
        merge_into(session, desk.ctx, source, target.id, agent, utcnow())
    with desk.db.reading() as session:
        assert (_kept(session, 1) or set()) >= {"invoice", "total", "printer"}
        assert _kept(session, 1) == _truth(session, 1)
        assert _kept(session, 2) == set()  # no messages left, and no tags
        found = search(session, "invoice tray")
        assert [h.number for h in found.hits] == [1] and found.total == 1


def test_words_past_a_tsvectors_size_make_the_ticket_always_a_candidate(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket whose words would not fit in one tsvector keeps NULL, and is still found
    by the words of its messages (and only by them) when the candidates are read from
    the tickets' words (forced here: newest first, never a set of the driving clause)."""
    forced = replace(BUDGETS["postgresql"], rank_limit=-1, set_ms=-1.0)
    monkeypatch.setitem(BUDGETS, "postgresql", forced)
    for n in range(6):  # each body indexed up to MAX_BODY characters: ~190 kB of words
        many = " ".join(f"w{n}x{k:05d}{'q' * 30}" for k in range(5_000))
        desk.deliver(
            make_mail(
                message_id=f"big{n}@a.test",
                sender="c0@shop.example",
                subject="Re: Printer jammed",
                body=f"tail{n} " + many,
                in_reply_to="w0@a.test",
            )
        )
    probed = replace(forced, set_limit=-1, word_limit=-1, probe_us=1e-6)
    for budget in (forced, probed):  # candidates from the words; each ticket tested
        monkeypatch.setitem(BUDGETS, "postgresql", budget)
        with desk.db.reading() as session:
            assert _kept(session, 1) is None
            assert search(session, "tail5 jammed").total == 1
            assert search(session, "tail5 invoice").total == 0
            assert search(session, "w3x00007qqqqqqqqqqqqqqqqqqqqqqqqqqqqqq jammed").total == 1
