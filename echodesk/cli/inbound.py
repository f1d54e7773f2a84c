"""Commands about mail that came in: schema, import, tickets, conversations, spool."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.config import Settings
from echodesk.desk.intake import Intake
from echodesk.desk.pipeline import Outcome
from echodesk.desk.worker import Worker
from echodesk.errors import NotFoundError
from echodesk.mailbox.files import count_messages, iter_messages
from echodesk.mailbox.message import Envelope
from echodesk.store import migrate, reports
from echodesk.store import spool as spool_store
from echodesk.store import tickets as ticket_store


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_app
@friendly_errors
def db_upgrade(app: App) -> None:
    """Apply every schema migration (safe to run again)."""
    database = app.database(check_schema=False)
    before = migrate.current_revision(database)
    migrate.upgrade(database)
    after = migrate.current_revision(database)
    click.echo(f"database at revision {after}" + ("" if before == after else f" (was {before})"))


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a summary object.")
@pass_app
@friendly_errors
def ingest(app: App, paths: tuple[str, ...], as_json: bool) -> None:
    """Import mail: .eml files, mbox, Maildir, folders, or '-' for stdin."""
    database = app.database()
    ctx = app.ctx
    intake = Intake(database, ctx)
    show_bar = sys.stderr.isatty() and not as_json
    total = count_messages(list(paths)) if show_bar else None
    ids = intake.accept_many(_arrivals(paths))
    wanted = set(ids)
    seen: list[Outcome] = []
    worker = Worker(database, ctx)
    bar_cm = click.progressbar(length=total or len(ids), label="ingesting", file=sys.stderr)
    with bar_cm if show_bar else _null_bar() as bar:

        def on_outcome(outcome: Outcome) -> None:
            seen.append(outcome)
            if outcome.spool_id in wanted:
                bar.update(1)

        worker.run_until_idle(on_outcome)
    summary = _summary(len(ids), [o for o in seen if o.spool_id in wanted])
    if as_json:
        emit_json(summary)
    else:
        click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))


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


def _arrivals(paths: tuple[str, ...]) -> Iterator[tuple[bytes, Envelope]]:
    for target in paths:
        for item in iter_messages(target):
            yield item.raw, Envelope(source="file", source_ref=item.ref)


def _summary(accepted: int, outcomes: list[Outcome]) -> dict[str, int]:
    states = Counter(o.state for o in outcomes)
    return {
        "accepted": accepted,
        "duplicates": states["duplicate"],
        "tickets_created": sum(1 for o in outcomes if o.created_ticket),
        "messages_appended": sum(1 for o in outcomes if o.appended),
        "recorded_only": sum(
            1 for o in outcomes if o.state == "processed" and not (o.created_ticket or o.appended)
        ),
        "failed": states["failed"] + states["retry"],
    }


@main.command("tickets")
@click.option("--status", type=click.Choice(["open", "pending", "resolved", "closed"]))
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def tickets_cmd(app: App, status: str | None, as_json: bool) -> None:
    """List tickets."""
    with app.database().reading() as session:
        rows = reports.ticket_list(session, app.settings, status=status)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no tickets yet: 'echodesk ingest FILE' imports mail")
    for r in rows:
        tags = f" [{', '.join(r['tags'])}]" if r["tags"] else ""
        click.echo(
            f"{r['number']}  {r['status']:<8} {r['messages']:>3} msg  "
            f"{r['customer'] or '-':<30} {r['subject']}{tags}"
        )


@main.command()
@click.argument("numbers", nargs=-1)
@click.option("--all", "show_all", is_flag=True, help="Every ticket (use with --json).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket per line.")
@pass_app
@friendly_errors
def show(app: App, numbers: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Show tickets with their whole conversation."""
    if not numbers and not show_all:
        raise click.UsageError("name at least one ticket (TKT-0001) or use --all")
    settings = app.settings
    with app.database().reading() as session:
        for detail in _details(session, settings, numbers, show_all):
            if as_json:
                emit_json(detail)
            else:
                _print_detail(detail)


def _details(
    session: Any, settings: Settings, numbers: tuple[str, ...], show_all: bool
) -> Iterator[dict[str, Any]]:
    if show_all:
        yield from reports.iter_ticket_details(session, settings)
        return
    for label in numbers:
        number = settings.parse_ticket_label(label)
        ticket = ticket_store.by_number(session, number) if number is not None else None
        if ticket is None:
            raise NotFoundError(f"no ticket {label}")
        yield reports.ticket_detail(session, settings, ticket)


def _print_detail(d: dict[str, Any]) -> None:
    click.echo(f"{d['number']}  {d['subject']}")
    click.echo(
        f"  status {d['status']}, priority {d['priority']}, customer {d['customer']}, "
        f"assignee {d['assignee'] or 'nobody'}"
    )
    if d["merged_into"]:
        click.echo(f"  merged into {d['merged_into']}")
    for m in d["messages"]:
        click.echo(
            f"\n--- {m['direction']} {m['kind']} from {m['from']} at {m['date']}"
            f"  ({m['thread_reason']})"
        )
        click.echo(m["trimmed_text"] or m["body_text"])
        for a in m["attachments"]:
            click.echo(f"  [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    click.echo("")


@main.group("spool", invoke_without_command=True)
@click.option("--state", type=click.Choice(list(spool_store.STATES)))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def spool_cmd(click_ctx: click.Context, state: str | None, as_json: bool) -> None:
    """What became of each received message; 'spool retry ID' requeues a failed one."""
    if click_ctx.invoked_subcommand is not None:
        return
    app = click_ctx.find_object(App)
    assert app is not None
    friendly_errors(_spool_list)(app, state, as_json)


def _spool_list(app: App, state: str | None, as_json: bool) -> None:
    with app.database().reading() as session:
        rows = reports.spool_list(session, app.settings, state)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("the spool is empty")
    for r in rows:
        extra = r["last_error"] or r["detail"]
        click.echo(
            f"{r['id']:>6}  {r['state']:<10} {r['kind'] or '-':<10} "
            f"{r['ticket'] or '-':<10} {r['attempts']}x  {r['message_id']}  {extra}"
        )


@spool_cmd.command("retry")
@click.argument("row_id", type=int)
@pass_app
@friendly_errors
def spool_retry(app: App, row_id: int) -> None:
    """Requeue a failed spool row and process it now."""
    database = app.database()
    with database.transaction() as session:
        spool_store.retry(session, row_id)
    outcomes = Worker(database, app.ctx).run_until_idle()
    mine = [o for o in outcomes if o.spool_id == row_id]
    state = mine[0].state if mine else "pending"
    click.echo(
        f"spool row {row_id}: {state}" + (f" ({mine[0].reason})" if mine and mine[0].reason else "")
    )
