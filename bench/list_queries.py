"""The archive list's own statements against their former forms, side by side (PostgreSQL).

A throw-away cluster (``tests/support/postgres.py``) holds a synthetic desk:
333,334 tickets (a third of a 1,000,000-message archive), 20,000 customers,
6 agents, 233,333 tags in 8 kinds, made with ``generate_series`` (no mail:
these statements read tickets, people and tags only). Each statement is run
in turn with its former form, warm, ``--runs`` times; the medians and their
ratio are printed.

- tags in use (the tag filter on every list page): the skip-scan through the
  tag index (``archive.all_tags``) against ``SELECT DISTINCT tag``;
- the first page sorted by customer and by assignee: the page as
  ``ticketlist.page`` reads it (the tickets with a value through a join, then
  those without) against one statement with a correlated subquery per
  ticket. Both forms must give the same tickets.

Run from the repository root::

    .venv/bin/python bench/list_queries.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from echodesk.store import archive, ticketlist  # noqa: E402
from echodesk.store.db import Database  # noqa: E402
from echodesk.store.migrate import upgrade  # noqa: E402
from echodesk.store.models import Ticket  # noqa: E402
from tests.support.postgres import start_cluster  # noqa: E402

FILL = (
    "INSERT INTO customers (id, email, display_name, first_seen_at, last_seen_at) "
    "SELECT g, 'c' || g || '@x.test', CASE WHEN mod(g, 3) = 0 THEN '' "
    "ELSE 'Name ' || md5(g::text) END, now(), now() FROM generate_series(1, 20000) g",
    "INSERT INTO agents (id, email, name, role, active, created_at) "
    "SELECT g, 'a' || g || '@desk.test', 'Agent ' || g, 'agent', true, now() "
    "FROM generate_series(1, 6) g",
    "INSERT INTO tickets (id, number, customer_id, assignee_id, status, priority, subject, "
    "created_at, updated_at, status_changed_at) SELECT g, g, 1 + mod(g * 7, 20000), "
    "CASE WHEN mod(g, 7) = 0 THEN NULL ELSE 1 + mod(g, 6) END, 'open', 'normal', 's', "
    "now(), now(), now() FROM generate_series(1, 333334) g",
    "INSERT INTO ticket_tags (ticket_id, tag) SELECT g, (ARRAY['billing','vip','hardware',"
    "'urgent','printer','refund','zebra','shipping'])[1 + mod(g, 8)] "
    "FROM generate_series(1, 333334) g WHERE mod(g, 2) = 0",
    "INSERT INTO ticket_tags (ticket_id, tag) SELECT g, 'vip' FROM generate_series(1, 333334) g "
    "WHERE mod(g, 5) = 0 ON CONFLICT DO NOTHING",
)
NAME = "lower(coalesce(nullif({t}.{n}, ''), {t}.email))"
FORMER = {
    "tags in use": "SELECT DISTINCT ticket_tags.tag FROM ticket_tags ORDER BY ticket_tags.tag",
    "sorted by customer": (
        "SELECT tickets.id FROM tickets WHERE tickets.merged_into_id IS NULL ORDER BY "
        f"(SELECT {NAME.format(t='c', n='display_name')} FROM customers c "
        "WHERE c.id = tickets.customer_id) ASC NULLS LAST, tickets.id ASC LIMIT 25"
    ),
    "sorted by assignee": (
        "SELECT tickets.id FROM tickets WHERE tickets.merged_into_id IS NULL ORDER BY "
        f"(SELECT {NAME.format(t='a', n='name')} FROM agents a "
        "WHERE a.id = tickets.assignee_id) ASC NULLS LAST, tickets.id ASC LIMIT 25"
    ),
}


def current(conn: Any, what: str) -> list[Any]:
    """What the code reads now: the tags in use, or the first page's ticket ids."""
    if what == "tags in use":
        return [row[0] for row in conn.execute(archive._TAGS_IN_USE)]
    key = what.rsplit(" ", 1)[-1]
    with Session(bind=conn) as session:
        where = [Ticket.merged_into_id.is_(None)]
        found = ticketlist.page(session, where, ticketlist.chosen(key, "asc"), 25, 0)
        return [ticket.id for ticket in found]


def timed(read: Callable[[], list[Any]]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    rows = read()
    return (time.perf_counter() - started) * 1000, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    cluster = start_cluster()
    try:
        db = Database(cluster.create_database("list_queries"))
        upgrade(db)
        with db.engine.begin() as conn:
            for statement in FILL:
                conn.exec_driver_sql(statement)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print("PostgreSQL, 333,334 tickets, 20,000 customers, 6 agents, 233,333 tags")
        print(f"{'statement':<20} {'former ms':>10} {'now ms':>8} {'ratio':>7}")
        with db.engine.connect() as conn:
            for what, sql in FORMER.items():

                def former(sql: str = sql) -> list[Any]:
                    return [row[0] for row in conn.execute(text(sql))]

                def now(what: str = what) -> list[Any]:
                    return current(conn, what)

                if timed(former)[1] != timed(now)[1]:
                    raise SystemExit(f"{what}: the two forms disagree")
                before, after = [], []
                for _ in range(args.runs):
                    before.append(timed(former)[0])
                    after.append(timed(now)[0])
                a, b = statistics.median(before), statistics.median(after)
                print(f"{what:<20} {a:>10.1f} {b:>8.1f} {a / b:>6.1f}x")
        db.dispose()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
