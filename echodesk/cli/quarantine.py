"""``echodesk quarantine``: mail held back as spam, flood or by a rule; release or delete it."""

from __future__ import annotations

from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_rows, friendly_errors, list_alone, main, pass_app
from echodesk.desk.intake.worker import Worker
from echodesk.mailbox.parse import parse_message
from echodesk.store import spool as spool_store
from echodesk.store.readmodels import iso

LIST_LIMIT = 500


def _row(row: Any, app: App) -> dict[str, Any]:
    try:
        msg = parse_message(spool_store.raw_bytes(row, app.ctx.blobs))
        sender, subject = (msg.from_.key if msg.from_ else ""), msg.subject
    except Exception:  # noqa: BLE001 - a listing shows what it can read
        sender, subject = "", ""
    return {
        "id": row.id,
        "received_at": iso(row.received_at),
        "source": row.source,
        "mail_from": row.mail_from,
        "from": sender,
        "subject": subject,
        "message_id": row.message_id,
        "reason": row.detail,
    }


@main.group("quarantine", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_cmd(click_ctx: click.Context, as_json: bool) -> None:
    """Mail kept out of tickets; 'quarantine release ID' lets one through."""
    list_alone(click_ctx, _list, as_json)


def _list(app: App, as_json: bool) -> None:
    with app.database().reading() as session:
        rows = [_row(r, app) for r in spool_store.rows(session, "quarantined", LIST_LIMIT)]
    emit_rows(rows, as_json, views.quarantine_lines, "nothing is quarantined")


@quarantine_cmd.command("release")
@click.argument("row_id", type=int)
@pass_app
@friendly_errors
def quarantine_release(app: App, row_id: int) -> None:
    """Process a quarantined message normally (it is not quarantined again)."""
    database = app.database()
    with database.transaction() as session:
        spool_store.release(session, row_id)
    outcomes = [o for o in Worker(database, app.ctx).run_until_idle() if o.spool_id == row_id]
    if outcomes and outcomes[0].ticket_number is not None:
        label = app.settings.ticket_label(outcomes[0].ticket_number)
        click.echo(f"spool row {row_id}: released into {label}")
    else:
        state = outcomes[0].state if outcomes else "pending"
        click.echo(f"spool row {row_id}: released ({state})")


@quarantine_cmd.command("delete")
@click.argument("row_id", type=int)
@pass_app
@friendly_errors
def quarantine_delete(app: App, row_id: int) -> None:
    """Throw a quarantined message away (its bytes are deleted; the record stays)."""
    with app.database().transaction() as session:
        spool_store.delete_quarantined(session, row_id, app.ctx.blobs)
    click.echo(f"spool row {row_id}: deleted")
