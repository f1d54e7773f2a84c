"""Search: every operator gives the same tickets on SQLite and PostgreSQL; hostile queries."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from echodesk.mailbox.message import AttachmentPart
from echodesk.store import agents
from echodesk.store.models import Agent, Ticket
from echodesk.store.search import MARK_END, MARK_START, search
from echodesk.store.searchquery import SearchError, parse
from tests.support.desk import Desk
from tests.support.mail import make_mail


def _with_file(mid: str, sender: str, subject: str, body: str, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{mid}>"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg.set_content(body)
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(db_url, tmp_path / "data", flood_limit=0)
    d.add_agent("bob@desk.test", "Bob Agent")
    mails = [
        make_mail(
            message_id="t1@a.test",
            sender="Alice Printer <alice@bigcorp.example>",
            subject="Printer on fire",
            body="My HP LaserJet is burning. Help!\n",
        ),
        make_mail(
            message_id="t2@b.test",
            sender="Bob Buyer <bob@shop.example>",
            subject="Invoice 1234 is wrong",
            body="The total on the invoice is wrong.\n",
        ),
        make_mail(
            message_id="t3@c.test",
            sender="carl@third.example",
            subject="Printer",
            body="Which printer do you recommend?\n",
            cc="dora@bigcorp.example",
        ),
        _with_file(
            "t4@d.test",
            "Dora <dora@bigcorp.example>",
            "Contract renewal",
            "Please find the signed contract attached.\n",
            "vertrag-2026.pdf",
        ),
        make_mail(
            message_id="t5@e.test",
            sender="Eve Müller <eve@mueller.example>",
            subject="Grüße aus Köln",
            body="Die Lieferung ist beschädigt angekommen.\n",
        ),
        make_mail(
            message_id="t6@f.test",
            sender="frank@shop.example",
            subject="Refund please",
            body="I want a refund for order 5555; the toner leaked.\n",
        ),
    ]
    for raw in mails:
        d.deliver(raw)
    # A reply on ticket 1 mentioning toner; ticket 6 is merged into ticket 2 later.
    d.deliver(
        make_mail(
            message_id="t1b@a.test",
            sender="alice@bigcorp.example",
            subject="Re: Printer on fire",
            in_reply_to="t1@a.test",
            body="Update: the toner cartridge melted.\n",
            minutes=5,
        )
    )
    with d.db.transaction() as session:
        bob = agents.by_email(session, "bob@desk.test")
        assert bob is not None
        session.execute(update(Ticket).where(Ticket.number == 2).values(assignee_id=bob.id))
        session.execute(update(Ticket).where(Ticket.number == 3).values(status="pending"))
        from echodesk.store.models import TicketTag

        session.add_all(
            [TicketTag(ticket_id=1, tag="hardware"), TicketTag(ticket_id=2, tag="billing")]
        )
    try:
        yield d
    finally:
        d.close()


def _numbers(desk: Desk, query: str, me: str | None = None) -> list[int]:
    with desk.db.reading() as session:
        return sorted(h.number for h in search(session, query, limit=50, me=me).hits)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("printer", [1, 3]),
        ("PRINTER", [1, 3]),
        ("printer fire", [1]),
        ('"on fire"', [1]),
        ('"fire on"', []),
        ("print*", [1, 3]),
        ("laser*", [1]),
        ("toner", [1, 6]),
        ("toner -refund", [1]),
        ("-printer", [2, 4, 5, 6]),
        ("refund OR contract", [4, 6]),
        ("printer invoice OR contract", []),
        ("printer OR invoice toner", [1]),
        ("from:alice", [1]),
        ("from:bigcorp.example", [1, 4]),
        ('from:"Bob Buyer"', [2]),
        ("to:dora@bigcorp.example", [3]),
        ("subject:printer", [1, 3]),
        ('subject:"on fire"', [1]),
        ("customer:shop.example", [2, 6]),
        ("customer:dora", [4]),
        ("status:pending", [3]),
        ("-status:open", [3]),
        ("tag:billing", [2]),
        ("hardware", [1]),
        ("assignee:bob@desk.test", [2]),
        ("assignee:me", [2]),
        ("assignee:none", [1, 3, 4, 5, 6]),
        ("is:unassigned status:open", [1, 4, 5, 6]),
        ("has:attachment", [4]),
        ("vertrag", [4]),
        ("TKT-0005", [5]),
        ("5555", [6]),
        ("beschädigt", [5]),
        ("grüße köln", [5]),
        ("after:2000-01-01 before:2000-01-02", []),
        ("after:2000-01-01", [1, 2, 3, 4, 5, 6]),
        ("from:müller", [5]),
        ("eve@mueller.example", [5]),
    ],
)
def test_each_operator_finds_the_same_tickets_on_both_databases(
    desk: Desk, query: str, expected: list[int]
) -> None:
    assert _numbers(desk, query, me="bob@desk.test") == expected


def test_an_exact_subject_match_ranks_first_then_relevance(desk: Desk) -> None:
    with desk.db.reading() as session:
        hits = search(session, "printer").hits
    assert hits[0].number == 3  # subject is exactly "Printer"
    assert hits[0].snippet
    with desk.db.reading() as session:
        hits = search(session, "printer on fire").hits
    assert hits[0].number == 1
    assert MARK_START + "fire" + MARK_END in hits[0].snippet  # found in the subject


def test_snippets_mark_the_words(desk: Desk) -> None:
    with desk.db.reading() as session:
        (hit,) = search(session, "melted").hits
    shown = hit.snippet.replace(MARK_START, "[").replace(MARK_END, "]")
    assert "[melted]" in shown and hit.number == 1
    assert hit.customer == "alice@bigcorp.example"


def test_merged_tickets_are_found_through_their_target(desk: Desk) -> None:
    from echodesk.store import writes

    with desk.db.transaction() as session:
        writes.move_messages(session, 6, 2)
        session.execute(
            update(Ticket).where(Ticket.number == 6).values(merged_into_id=2, status="closed")
        )
    assert _numbers(desk, "refund") == [2]  # ticket 6's words now live in ticket 2
    assert _numbers(desk, "TKT-0006") == []


def test_new_replies_and_notes_are_searchable_at_once(desk: Desk) -> None:
    desk.reply(2, "We corrected the invoice: zebracorn discount applied.\n")
    desk.note(2, "Internal: customer is a unicornfish fan.")
    assert _numbers(desk, "zebracorn") == [2]
    assert _numbers(desk, "unicornfish") == [2]
    pdf = AttachmentPart("gutschrift-quokka.pdf", "application/pdf", b"%PDF-1.4")
    desk.reply(5, "Here is your credit note.\n", attachments=(pdf,))
    assert _numbers(desk, "quokka") == [5]  # the file's name, in the same index


HOSTILE = [
    '"unbalanced',
    'unbalanced"',
    "back\\slash \\\\ \\",
    "'; DROP TABLE tickets; --",
    "NEAR(printer fire)",
    "*",
    "**",
    "printer AND OR NOT",
    "OR",
    "-",
    "--",
    "from:",
    ":::",
    "subject:(",
    "\x00\x01\x02 printer \x7f",
    "x" * 10_000,
    "printer " * 5_000,
    "{subject}: printer",
    "^printer",
    "a:b:c:d",
    "%_%",
    "\u202eprinter",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_give_results_or_a_clear_error(desk: Desk, query: str) -> None:
    with desk.db.reading() as session:
        try:
            results = search(session, query, limit=5)
        except SearchError as exc:
            assert str(exc)
            return
    assert results.total >= 0
    with desk.db.reading() as session:  # and nothing was dropped
        assert search(session, "printer").total == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status:finished", "status:finished: use one of"),
        ("before:yesterday", "not a date"),
        ("is:assigned", "only is:unassigned"),
        ("has:kittens", "only has:attachment"),
    ],
)
def test_queries_a_person_can_fix_say_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        parse(query)


def test_assignee_me_needs_someone(desk: Desk) -> None:
    with desk.db.reading() as session, pytest.raises(SearchError, match="who you are"):
        search(session, "assignee:me")


def test_unknown_agent_matches_nothing(desk: Desk) -> None:
    assert _numbers(desk, "assignee:zed") == []
    with desk.db.reading() as session:
        assert session.query(Agent).count() == 1


def test_erased_text_leaves_the_index(desk: Desk) -> None:
    from sqlalchemy import select

    from echodesk.store import searchindex
    from echodesk.store.models import Message

    assert _numbers(desk, "laserjet") == [1]
    with desk.db.transaction() as session:  # through the ORM: the flush hook reindexes
        message = session.scalars(select(Message).where(Message.message_id == "t1@a.test")).one()
        message.body_text = message.trimmed_text = "[erased per DSR 2026-12-01]"
        message.subject = "[erased per DSR 2026-12-01]"
    assert _numbers(desk, "laserjet") == []
    assert _numbers(desk, "erased") == [1]
    with desk.db.transaction() as session:  # and by a bulk update, then reindex()
        session.execute(update(Message).where(Message.ticket_id == 2).values(body_text="gone"))
        ids = session.scalars(select(Message.id).where(Message.ticket_id == 2)).all()
        searchindex.reindex(session, ids)
    assert _numbers(desk, "total") == []


def _force(monkeypatch: pytest.MonkeyPatch, **limits: float) -> None:
    """Every database's budget with these limits (as a large archive would choose)."""
    from dataclasses import replace

    from echodesk.store import search as search_module

    for dialect, budget in search_module.BUDGETS.items():
        monkeypatch.setitem(search_module.BUDGETS, dialect, replace(budget, **limits))


def test_a_common_word_is_walked_newest_first_finding_every_match(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with desk.db.reading() as session:
        ranked = search(session, "printer", limit=50)
    assert ranked.order == "relevance" and next(h.number for h in ranked.hits) == 3
    # As on an archive where "printer" is in more messages than are worth ranking:
    _force(monkeypatch, rank_limit=0, set_limit=0)
    with desk.db.reading() as session:
        first = search(session, "printer", limit=1)
        second = search(session, "printer", limit=1, cursor=first.next)
    assert first.order == "newest" and (first.total, first.capped) == (2, False)
    assert [h.number for h in first.hits + second.hits] == [1, 3]  # 1 was updated last
    assert second.next is None and second.previous is not None


def test_a_count_beyond_the_budget_is_a_lower_bound_that_pages_on(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with desk.db.reading() as session:
        every = search(session, "status:open", limit=50)
    assert every.total == 5 and not every.capped and every.order == "newest"
    newest_first = [h.number for h in every.hits]
    _force(monkeypatch, set_limit=0, count_ms=0.0)  # walked, and never counted...
    monkeypatch.setattr("echodesk.store.searchpages.FEWEST_COUNTED", 1)  # ...beyond one ticket
    seen, cursor, totals = [], None, []
    while True:
        with desk.db.reading() as session:
            page = search(session, "status:open", limit=2, cursor=cursor)
        seen += [h.number for h in page.hits]
        totals.append((page.total, page.capped))
        cursor = page.next
        if cursor is None:
            break
    assert seen == newest_first
    # Each page shows what it knows: what came before, itself, and one more if there is one.
    assert totals[0][0] >= 3 and totals[0][1] and totals[-1] == (5, False)


def test_file_names_are_words_of_the_index_also_after_the_upgrade(desk: Desk) -> None:
    from alembic import command
    from sqlalchemy import text

    from echodesk.store import migrate
    from echodesk.store.models import Message
    from echodesk.store.searchindex import document

    assert _numbers(desk, "vertrag") == [4]
    assert _numbers(desk, '"vertrag 2026"') == [4]  # "vertrag-2026.pdf"
    # An index written before file names were indexed (migration 0008) ...
    with desk.db.transaction() as session:
        (message,) = session.query(Message).filter(Message.subject == "Contract renewal")
        subject, body, sender, recipients = document(message)
        values = {"id": message.id, "s": subject, "b": body, "f": sender, "r": recipients}
        if desk.db.is_postgres:
            session.execute(
                text(
                    "UPDATE messages SET search_vector = setweight(to_tsvector('simple', :s), 'A')"
                    " || setweight(to_tsvector('simple', :b), 'B') WHERE id = :id"
                ),
                values,
            )
        else:
            session.execute(text("DELETE FROM message_fts WHERE rowid = :id"), values)
            session.execute(
                text(
                    "INSERT INTO message_fts (rowid, subject, body, sender, recipients) "
                    "VALUES (:id, :s, :b, :f, :r)"
                ),
                values,
            )
    assert _numbers(desk, "vertrag") == []
    # ... learns them when the migration runs.
    with desk.db.engine.connect() as conn:
        config = migrate._config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
        conn.commit()
    migrate.upgrade(desk.db)
    assert _numbers(desk, "vertrag") == [4]
