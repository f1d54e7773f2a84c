"""Commands about mail that came in: schema, tickets, conversations, spool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_json, emit_rows, friendly_errors, list_alone, main, pass_app
from echodesk.config import Settings
from echodesk.desk.intake.worker import Worker
from echodesk.errors import NotFoundError
from echodesk.statuses import STATUSES
from echodesk.store import migrate, readmodels
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


@main.command("tickets")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def tickets_cmd(app: App, status: str | None, as_json: bool) -> None:
    """List tickets."""
    with app.database().reading() as session:
        rows = readmodels.ticket_list(session, app.settings, status=status)
    empty = "no tickets yet: 'echodesk ingest FILE' imports mail"
    emit_rows(rows, as_json, views.ticket_lines, empty)


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
                click.echo("\n".join(views.conversation_lines(detail)))


def _details(
    session: Any, settings: Settings, numbers: tuple[str, ...], show_all: bool
) -> Iterator[dict[str, Any]]:
    if show_all:
        yield from readmodels.iter_ticket_details(session, settings)
        return
    for label in numbers:
        number = settings.parse_ticket_label(label)
        ticket = ticket_store.by_number(session, number) if number is not None else None
        if ticket is None:
            raise NotFoundError(f"no ticket {label}")
        yield readmodels.ticket_detail(session, settings, ticket)


@main.group("spool", invoke_without_command=True)
@click.option("--state", type=click.Choice(list(spool_store.STATES)))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def spool_cmd(click_ctx: click.Context, state: str | None, as_json: bool) -> None:
    """What became of each received message; 'spool retry ID' requeues a failed one."""
    list_alone(click_ctx, _spool_list, state, as_json)


def _spool_list(app: App, state: str | None, as_json: bool) -> None:
    with app.database().reading() as session:
        rows = readmodels.spool_list(session, app.settings, state)
        counts = readmodels.spool_counts(session) if not rows and not as_json else {}
    emit_rows(rows, as_json, views.spool_lines, views.spool_none(state, counts))


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
