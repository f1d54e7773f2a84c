"""``echodesk ingest``: import mail from files, and say what became of every message.

An import is how a team brings its history over, so its summary must account
for every message it read: each lands in exactly one count, and the counts add
up to what was read. Files that are not mail are refused before anything of
them is stored, each named with the reason, unless ``--force`` is given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.intake.accept import Intake
from echodesk.desk.intake.pipeline import Outcome
from echodesk.desk.intake.worker import Worker
from echodesk.mailbox.files import count_messages, iter_messages, not_mail
from echodesk.mailbox.message import Envelope

#: Bytes of mail read from the files before they are spooled: a folder of large
#: messages is not held in memory ``import_batch`` at a time.
IMPORT_CHUNK_BYTES = 32 * 1024 * 1024

#: Every count of the summary, in the order it is printed; each message is in exactly one.
COUNTS = (
    "tickets_created",
    "messages_appended",
    "agent_mail",
    "duplicates",
    "quarantined",
    "dropped",
    "bounces",
    "complaints",
    "auto_replies",
    "loops",
    "recorded_only",
    "rejected",
    "failed",
    "pending",
)


@dataclass
class _Reading:
    """The files read so far, and those refused as not mail."""

    force: bool
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def arrivals(self, paths: tuple[str, ...]) -> Iterator[tuple[bytes, Envelope]]:
        for target in paths:
            for item in iter_messages(target):
                why = "" if self.force else not_mail(item.raw)
                if why:
                    self.rejected.append((item.ref, why))
                    click.echo(f"refused {item.ref}: {why} (--force takes it)", err=True)
                    continue
                yield item.raw, Envelope(source="file", source_ref=item.ref)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a summary object.")
@click.option("--force", is_flag=True, help="Take files that do not look like mail, too.")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes that parse the mail [default: one per core].",
)
@pass_app
@friendly_errors
def ingest(
    app: App, paths: tuple[str, ...], as_json: bool, force: bool, processes: int | None
) -> None:
    """Import mail: .eml files, mbox, Maildir, folders, or '-' for stdin."""
    database = app.database()
    show_bar = sys.stderr.isatty() and not as_json
    total = count_messages(list(paths)) if show_bar else None
    reading = _Reading(force)
    bar_cm = click.progressbar(length=total or 0, label="ingesting", file=sys.stderr)
    with bar_cm if show_bar else _null_bar() as bar:
        processes = processes or os.cpu_count() or 1
        ids, last = _import(app, reading.arrivals(paths), processes, lambda: bar.update(1))
    if last:
        # An import can multiply a table's size: the planner is told at once, not
        # after PostgreSQL's autovacuum or the worker's next upkeep gets to it.
        database.keep_statistics(imported=len(last))
    summary = summarise(len(ids), len(reading.rejected), list(last.values()))
    if as_json:
        emit_json(summary)
    else:
        click.echo(describe(summary))


def _import(
    app: App,
    arrivals: Iterator[tuple[bytes, Envelope]],
    processes: int,
    tick: Callable[[], None],
) -> tuple[list[int], dict[int, Outcome]]:
    """Spool the messages a batch at a time and process them as they come.

    The worker parses in ``processes`` other processes (when above 1): while it writes one
    batch and the next is being parsed, the batch after that is read from
    the files and spooled, so every core has work from the start.
    """
    database = app.database()
    intake = Intake(database, app.ctx)
    ids: list[int] = []
    last: dict[int, Outcome] = {}

    def on_outcome(outcome: Outcome) -> None:
        if outcome.spool_id in wanted:
            last[outcome.spool_id] = outcome
            tick()

    wanted: set[int] = set()
    # A one-off run has no receivers waiting on its transactions: larger batches
    # than a worker's, each costing one commit and one round of lookups.
    batch = app.ctx.settings.import_batch
    worker = Worker(database, app.ctx, batch=batch, parse_processes=processes)
    try:
        for chunk in _chunks(arrivals, worker.batch, IMPORT_CHUNK_BYTES):
            accepted = intake.accept_many(chunk, batch=worker.batch)
            ids += accepted
            wanted.update(accepted)
            if worker.parsing_ahead:
                for outcome in worker.run_once():
                    if outcome.state != "deferred":  # a deferred row is taken again below
                        on_outcome(outcome)
            else:
                worker.prefetch()
        worker.run_until_idle(on_outcome)
    finally:
        worker.close()
    return ids, last


def _chunks(
    arrivals: Iterator[tuple[bytes, Envelope]], size: int, max_bytes: int
) -> Iterator[list[tuple[bytes, Envelope]]]:
    """``arrivals`` in lists of ``size``, or fewer once they hold ``max_bytes`` of mail."""
    chunk: list[tuple[bytes, Envelope]] = []
    held = 0
    for arrival in arrivals:
        chunk.append(arrival)
        held += len(arrival[0])
        if len(chunk) >= size or held >= max_bytes:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _count_of(outcome: Outcome) -> str:
    """The one count an outcome belongs to."""
    by_state = {
        "failed": "failed",
        "retry": "failed",
        "duplicate": "duplicates",
        "quarantined": "quarantined",
        "dropped": "dropped",
    }
    if outcome.state in by_state:
        return by_state[outcome.state]
    if outcome.created_ticket:
        return "tickets_created"
    by_kind = {
        "bounce": "bounces",
        "complaint": "complaints",
        "auto-reply": "auto_replies",
        "loop": "loops",
        "agent": "agent_mail",
        "agent-rejected": "agent_mail",
    }
    if outcome.kind in by_kind:
        return by_kind[outcome.kind]
    return "messages_appended" if outcome.appended else "recorded_only"


def summarise(accepted: int, rejected: int, outcomes: list[Outcome]) -> dict[str, int]:
    """``read``, ``accepted`` and every count; the counts add up to ``read``."""
    counts = dict.fromkeys(COUNTS, 0)
    for outcome in outcomes:
        counts[_count_of(outcome)] += 1
    counts["rejected"] = rejected
    counts["pending"] = accepted - len(outcomes)
    return {"read": accepted + rejected, "accepted": accepted, **counts}


def describe(summary: dict[str, int]) -> str:
    """The summary in words: what was read, then every count that is not zero."""
    parts = [f"{summary[name]} {name.replace('_', ' ')}" for name in COUNTS if summary[name]]
    head = f"read {summary['read']} message(s)"
    return head + (": " + ", ".join(parts) if parts else "")


class _NullBar:
    def update(self, _n: int) -> None:
        return None


@dataclass
class _NullCtx:
    bar: _NullBar

    def __enter__(self) -> _NullBar:
        return self.bar

    def __exit__(self, *exc: object) -> None:
        return None


def _null_bar() -> _NullCtx:
    return _NullCtx(_NullBar())
