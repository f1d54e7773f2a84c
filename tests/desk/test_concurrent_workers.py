"""Two worker processes draining one PostgreSQL spool process every message exactly once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from echodesk.desk.intake.pipeline import parse_row, process_batch
from echodesk.store import spool as spool_store
from echodesk.store.models import InboundSpool, Message, Ticket
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import PgCluster

CONVERSATIONS = 60
PER_CONVERSATION = 4


def _mails() -> list[tuple[int, str, bytes]]:
    out = []
    for c in range(CONVERSATIONS):
        ids = [f"c{c}m{i}@customer.test" for i in range(PER_CONVERSATION)]
        for i, mid in enumerate(ids):
            raw = make_mail(
                subject=("Re: " if i else "") + f"Question {c % 7}",  # subjects repeat
                sender=f"Person {i} <c{c}p{i}@customer.test>",  # no shared customer row
                message_id=mid,
                in_reply_to=ids[i - 1] if i else None,
                references=ids[:i] or None,
                minutes=i,
            )
            out.append((c, mid, raw))
    random.Random(7).shuffle(out)  # replies before parents, conversations interleaved
    return out


def test_two_workers_process_every_message_exactly_once(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.create_database("two_workers")
    desk = Desk(url, tmp_path / "data")
    mails = _mails()
    for _, _, raw in mails:
        desk.accept(raw)
    config = tmp_path / "echodesk.yaml"
    config.write_text("support_address: support@desk.test\n")
    env = {
        **os.environ,
        "ECHODESK_CONFIG": str(config),
        "ECHODESK_DATABASE_URL": url,
        "ECHODESK_DATA_DIR": str(tmp_path / "data"),
        "ECHODESK_WORKER_BATCH": "3",
    }
    cmd = [sys.executable, "-m", "echodesk.cli", "worker", "--until-idle"]
    workers = [
        subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        for _ in range(2)
    ]
    results = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [r[1].decode()[-2000:] for r in results]
    counts = [json.loads(out)["processed"] for out, _ in results]
    assert sum(counts) == len(mails)
    assert all(n > 0 for n in counts), f"one worker did everything: {counts}"

    with desk.db.reading() as session:
        states = dict(
            session.execute(
                select(InboundSpool.state, func.count()).group_by(InboundSpool.state)
            ).all()
        )
        assert states == {"processed": len(mails)}
        stored = session.scalars(select(Message.message_id)).all()
        assert sorted(stored) == sorted(mid for _, mid, _ in mails)  # once each
        where = dict(session.execute(select(Message.message_id, Message.ticket_id)).all())
        live = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.merged_into_id.is_(None))
        )
    for c in range(CONVERSATIONS):
        homes = {where[f"c{c}m{i}@customer.test"] for i in range(PER_CONVERSATION)}
        assert len(homes) == 1, f"conversation {c} split over tickets {homes}"
    assert live == CONVERSATIONS
    desk.close()


def test_a_reply_and_its_parent_in_two_open_transactions_end_in_one_ticket(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """The race two workers can hit: each would miss the other's uncommitted message."""
    desk = Desk(pg_cluster.create_database("parent_race"), tmp_path / "data")
    parent = desk.accept(make_mail(message_id="R@customer.test", sender="a@customer.test"))
    reply = desk.accept(
        make_mail(
            message_id="C@customer.test",
            sender="b@customer.test",
            in_reply_to="R@customer.test",
            references=["R@customer.test"],
        )
    )
    first = desk.db.write_sessions()
    second = desk.db.write_sessions()
    with first.begin():
        row = spool_store.claim_one(first, reply)
        assert row is not None
        assert process_batch(first, [parse_row(row, desk.ctx)], desk.ctx)[0].created_ticket
        with second.begin():
            other = spool_store.claim_one(second, parent)
            assert other is not None
            # The parent's conversation is held by the first transaction: deferred.
            assert (
                process_batch(second, [parse_row(other, desk.ctx)], desk.ctx)[0].state == "deferred"
            )
    # The first transaction has committed; the parent, retried, joins the reply.
    outcome = desk.run_worker_until_idle()[0]
    assert outcome.spool_id == parent and not outcome.created_ticket
    assert len(desk.tickets()) == 1
    desk.close()
