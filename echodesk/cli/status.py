"""``echodesk status``: is Echo well, and if not, what needs a person.

Reads the same snapshot as ``/readyz`` and ``/metrics``
(:mod:`echodesk.store.health`); exits 1 when something needs a person and 2
when the settings or the database cannot be read at all, so a cron job or a
platform check can act on the exit code alone.
"""

from __future__ import annotations

import sys

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.savedreplies import load_replies
from echodesk.errors import EchoError
from echodesk.rules import load_rules
from echodesk.store import migrate
from echodesk.store.blobs import open_blob_store
from echodesk.store.connectors import Connector
from echodesk.store.health import Queue, Snapshot, snapshot_for


def _queue(queue: Queue, waiting: str) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in queue.counts.items())
    age = queue.oldest_waiting_seconds
    oldest = "none" if age is None else f"{int(age // 60)} min" if age >= 60 else f"{int(age)} s"
    return f"{counts or 'empty'} (oldest {waiting}: {oldest})"


def _connector(c: Connector) -> str:
    seen = f"{c.last_success_at:%Y-%m-%d %H:%M} UTC" if c.last_success_at else "never"
    if c.failing:
        return (
            f"{c.name}  failing ({c.consecutive_failures} in a row, last worked {seen}): "
            f"{c.last_error[:200]}"
        )
    moved = f", {c.moved_24h} message(s) in 24 h" if c.kind != "job" else ""
    return f"{c.name}  ok (last worked {seen}{moved})"


def _lines(found: Snapshot) -> list[str]:
    lines = [
        f"database    {found.database}",
        f"migrations  {found.migrations}",
        f"blob store  {found.blobs}",
        f"spool       {_queue(found.spool, 'pending')}",
        f"outbox      {_queue(found.outbox, 'queued')}",
        *(_connector(c) for c in found.connectors),
        *(f"oauth:{name}  {state.replace('_', ' ')}" for name, state, _ in found.grants),
        "",
    ]
    if not found.problems:
        return [*lines, "all is well"]
    return [*lines, "needs a person:", *(f"  - {p}" for p in found.problems)]


def _file_problems(app: App) -> dict[str, str]:
    """The files people edit while Echo runs: one that does not load is not in force."""
    files = (
        ("rules", app.settings.rules_file, load_rules),
        ("saved replies", app.settings.replies_file, load_replies),
    )
    problems: dict[str, str] = {}
    for what, path, load in files:
        if not path.exists():
            continue
        try:
            load(path)
        except EchoError as exc:
            first = str(exc).splitlines()[0]
            problems[f"file:{what}"] = (
                f"{what} file {path} does not load, the last good one stays in force: {first}"
            )
    return problems


@main.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def status_cmd(app: App, as_json: bool) -> None:
    """Health of the database, blob store, spool and outbox; exit 1 if a person is needed."""
    settings = app.settings
    db = app.database(check_schema=False)  # a schema behind the code is reported, not refused
    if db.dialect == "sqlite":
        migrate.ensure_current(db, auto_upgrade=True)  # the embedded default upgrades itself
    blobs = open_blob_store(settings.effective_blob_store(), settings, db)
    found = snapshot_for(settings, db, blobs)
    found.incidents.update(_file_problems(app))
    if as_json:
        emit_json(found.as_dict())
    else:
        for line in _lines(found):
            click.echo(line)
    sys.exit(1 if found.problems else 0)
