"""Web archive benchmark: page render times over an archive of 100,000 tickets.

Run from the repository root::

    .venv/bin/python bench/web.py [--tickets 100000] [--seed 1] [--samples 40]
                                  [--postgresql] [--json]

The archive is the seeded help-desk archive of ``bench/searchgen.py`` (about
three messages a ticket, tags, assignees, attachments), written with the
application's own multi-row writes (``bench/search.py``'s loader). Then the
archive's Flask app, as ``echodesk serve`` builds it, answers requests from
Flask's test client with a signed-in agent: the whole path of a request
(routing, sign-in check, queries, templates, security headers) without the
network. Printed: p50 and p95 per kind of page and over all of them, in ms.
Aim: p95 under 100 ms; for the Reports page and its charts (a 30-day report,
November 2026, the archive's last month) under 500 ms. Then the Postmark inbound webhook is posted
``--webhooks`` payloads (an attachment each): the time until its 200, which
Echo answers only after the spool commit (the provider's limit is 5 s).
SQLite by default (the embedded default); ``--postgresql`` also runs a
throw-away PostgreSQL cluster (fsync off), with ``--pg-tickets`` tickets
(333,334 for a million messages).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import search as search_bench  # noqa: E402
import searchgen  # noqa: E402
from sqlalchemy import select  # noqa: E402

from echodesk.config import Settings  # noqa: E402
from echodesk.desk.context import DeskContext  # noqa: E402
from echodesk.serving import web_app  # noqa: E402
from echodesk.store import migrate  # noqa: E402
from echodesk.store.db import Database  # noqa: E402
from echodesk.store.models import Agent, InboundSpool, Ticket, TicketTag  # noqa: E402

AIM_MS = 100.0
REPORT_AIM_MS = 500.0
#: The reports' period: the generated archive's last month (searchgen.END is 2026-11-30).
MONTH = "from=2026-11-01&to=2026-11-30"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def build(url: str, tickets: int, seed: int, data: Path) -> tuple[Database, float, int]:
    """Load the archive; (database, seconds, messages)."""
    db = Database(url)
    migrate.upgrade(db)
    archive = searchgen.Archive(messages=tickets * 3, seed=seed)
    started = time.perf_counter()
    built = search_bench.load(db, archive, db.dialect)
    return db, time.perf_counter() - started, built.messages


def pages(db: Database, rnd: random.Random, samples: int) -> dict[str, list[str]]:
    """The URLs to time, by kind: list views and random tickets."""
    with db.reading() as session:
        high = int(session.scalar(select(Ticket.number).order_by(Ticket.number.desc())) or 1)
        tag = session.scalar(select(TicketTag.tag).limit(1)) or "billing"
        agent = session.scalar(select(Agent.email).limit(1)) or ""
    numbers = [rnd.randint(1, high) for _ in range(samples)]
    return {
        "list, all": ["/"],
        "list, open tab": ["/?status=open"],
        "list, closed tab, page 40": ["/?status=closed&page=40"],
        "list, tag filter": [f"/?tag={tag}"],
        "list, assignee filter": [f"/?assignee={agent}"],
        "list, search box": ["/?q=invoice", "/?q=printer+status%3Aopen", '/?q="paper+jam"'],
        "list, htmx partial": ["/?status=pending"],
        "list, sorted by a column": [
            f"/?sort={key}&dir={way}"
            for key in ("waiting", "sla", "customer", "assignee")
            for way in ("asc", "desc")
        ],
        "ticket page": [f"/ticket/{n}" for n in numbers],
        "api, ticket list": ["/api/tickets?per_page=100"],
        "reports page, 30 days": [f"/reports?{MONTH}"],
        "report charts (svg)": [
            f"/reports/{name}.svg?{MONTH}" for name in ("volume", "times", "agents", "tags")
        ],
        "report tables (csv)": [f"/reports/{name}.csv?{MONTH}" for name in ("agents", "tags")],
    }


def time_pages(
    db: Database, data: Path, rnd: random.Random, samples: int, webhooks: int
) -> dict[str, list[float]]:
    settings = Settings(
        data_dir=data,
        database_url=db.url,
        support_address="support@helpdesk.example",
        webhook_token="bench-token",
    )
    app = web_app(settings, db, DeskContext.for_settings(settings))
    client = app.test_client()
    with db.reading() as session:
        agent_id = session.scalar(select(Agent.id).limit(1))
    with client.session_transaction() as sess:
        sess["agent_id"] = agent_id
    timings: dict[str, list[float]] = {}
    for kind, urls in pages(db, rnd, samples).items():
        headers = {"HX-Request": "true"} if "htmx" in kind else {}
        for url in urls:
            client.get(url, headers=headers)  # warm-up
        times: list[float] = []
        rounds = max(1, samples // len(urls)) if len(urls) < samples else 1
        for _ in range(rounds):
            for url in urls:
                started = time.perf_counter()
                answer = client.get(url, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {answer.status_code}")
        timings[kind] = times
    timings["webhook, inbound mail (to 200)"] = time_webhook(client, db, webhooks)
    return timings


def inbound_payload(n: int) -> dict[str, Any]:
    """A Postmark inbound payload as Postmark documents it, with one attachment."""
    return {
        "From": f"customer{n}@bench.example",
        "FromName": f"Customer {n}",
        "FromFull": {"Email": f"customer{n}@bench.example", "Name": f"Customer {n}"},
        "To": "support@helpdesk.example",
        "ToFull": [{"Email": "support@helpdesk.example", "Name": ""}],
        "Subject": f"Printer {n} is jammed again",
        "MessageID": f"bench-{n}",
        "Date": "Mon, 2 Nov 2026 09:00:00 +0000",
        "TextBody": "Hello,\n\nthe printer on floor 3 is jammed again.\n\nThanks\n" * 5,
        "HtmlBody": "<p>Hello, the printer on floor 3 is <b>jammed</b> again.</p>",
        "Headers": [{"Name": "Message-ID", "Value": f"<bench-{n}@bench.example>"}],
        "Attachments": [
            {
                "Name": "photo.jpg",
                "Content": base64.b64encode(bytes(range(256)) * 200).decode(),
                "ContentType": "image/jpeg",
                "ContentLength": 51200,
            }
        ],
    }


def time_webhook(client: Any, db: Database, count: int) -> list[float]:
    """Milliseconds from POST to the 200 that follows the spool commit."""
    auth = "Basic " + base64.b64encode(b"postmark:bench-token").decode()
    with db.reading() as session:
        before = session.query(InboundSpool).count()
    times: list[float] = []
    for n in range(count):
        body = json.dumps(inbound_payload(n))
        started = time.perf_counter()
        answer = client.post(
            "/inbound",  # under web_prefix ("/tickets/inbound" with /tickets)
            data=body,
            headers={"Authorization": auth},
            content_type="application/json",
        )
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"webhook: HTTP {answer.status_code} {answer.get_data(as_text=True)}")
    with db.reading() as session:
        spooled = session.query(InboundSpool).count() - before
    if spooled != count:
        raise SystemExit(f"webhook: {count} posted, {spooled} spooled")
    return times


def report(
    backend: str, tickets: int, messages: int, build_s: float, timings: dict[str, list[float]]
) -> dict[str, Any]:
    every = [
        t
        for kind, times in timings.items()
        if kind.startswith(("list", "ticket", "api"))
        for t in times
    ]
    reports = [t for kind, times in timings.items() if kind.startswith("report") for t in times]
    print(f"\n{backend}: {tickets:,} tickets, {messages:,} messages (built in {build_s:.0f} s)")
    print(f"  {'page':<28} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    rows = {}
    for kind, times in timings.items():
        p50, p95 = quantile(times, 0.5), quantile(times, 0.95)
        rows[kind] = {"requests": len(times), "p50": p50, "p95": p95, "max": max(times)}
        print(f"  {kind:<28} {len(times):>8} {p50:>8.1f} {p95:>8.1f} {max(times):>8.1f}")
    p50, p95 = quantile(every, 0.5), quantile(every, 0.95)
    verdict = "met" if p95 < AIM_MS else "MISSED"
    print(
        f"  {'all pages':<28} {len(every):>8} {p50:>8.1f} {p95:>8.1f} {max(every):>8.1f}"
        f"   aim p95 < {AIM_MS:.0f} ms: {verdict}"
    )
    r50, r95 = quantile(reports, 0.5), quantile(reports, 0.95)
    reports_met = r95 < REPORT_AIM_MS
    print(
        f"  {'all reports':<28} {len(reports):>8} {r50:>8.1f} {r95:>8.1f} {max(reports):>8.1f}"
        f"   aim p95 < {REPORT_AIM_MS:.0f} ms: {'met' if reports_met else 'MISSED'}"
    )
    return {
        "backend": backend,
        "tickets": tickets,
        "messages": messages,
        "build_s": build_s,
        "pages": rows,
        "p50": p50,
        "p95": p95,
        "reports_p95": r95,
        "met": p95 < AIM_MS and reports_met,
    }


def _sqlite(args: argparse.Namespace, work: str, data: Path) -> dict[str, Any]:
    db, build_s, messages = build(f"sqlite:///{work}/web.db", args.tickets, args.seed, data)
    try:
        timings = time_pages(db, data, random.Random(args.seed), args.samples, args.webhooks)
        return report("sqlite", args.tickets, messages, build_s, timings)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--webhooks", type=int, default=200, help="inbound payloads to post")
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--pg-tickets", type=int, default=0, help="tickets there [--tickets]")
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL alone")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    print(
        "web archive benchmark: Flask test client, a signed-in agent, in-process "
        "(no network); ms per request"
    )
    with tempfile.TemporaryDirectory(prefix="echodesk-web-bench-") as work:
        data = Path(work) / "data"
        if not args.skip_sqlite:
            results.append(_sqlite(args, work, data))
        if args.postgresql:
            from tests.support.postgres import start_cluster

            cluster = start_cluster()
            try:
                url = cluster.create_database("webbench")
                tickets = args.pg_tickets or args.tickets
                db, build_s, messages = build(url, tickets, args.seed, data)
                try:
                    timings = time_pages(
                        db, data, random.Random(args.seed), args.samples, args.webhooks
                    )
                    results.append(report("postgresql", tickets, messages, build_s, timings))
                finally:
                    db.dispose()
            finally:
                cluster.stop()
    print(
        "\nnotes: SQLite in a temp dir with echodesk's pragmas; the PostgreSQL cluster "
        "(tests/support/postgres.py) runs with fsync off; one process, two shared cores"
    )
    if args.json:
        print(json.dumps(results))
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
