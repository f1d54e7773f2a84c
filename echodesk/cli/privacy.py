"""Data-subject requests: erase a person, or export everything held about them."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.jobs.retention import run_retention
from echodesk.desk.privacy.erase import erase
from echodesk.desk.privacy.export import export_person
from echodesk.errors import EchoError


@main.command("erase")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="What was erased, as JSON.")
@pass_app
@friendly_errors
def erase_cmd(app: App, address: str, yes: bool, as_json: bool) -> None:
    """Erase everything about a person (their messages, files, raw mail and the texts
    quoting them); tickets keep their numbers, statuses and timeline."""
    if "@" not in address:
        raise EchoError(f"not an email address: {address!r}")
    if not yes:
        if not sys.stdin.isatty():
            raise EchoError("erasing cannot be undone: add --yes to confirm")
        click.confirm(f"Erase everything about {address}? This cannot be undone", abort=True)
    actor = f"cli:{getpass.getuser()}"
    done = erase(app.database(), app.ctx, address, actor=actor)
    if as_json:
        emit_json({"address": address, "erased": done.customer_id is not None, **done.as_dict()})
        return
    if done.customer_id is None and not (done.messages or done.spool_rows or done.outbox_rows):
        click.echo(f"nothing is stored about {address} (already erased?)")
        return
    tickets = ", ".join(app.settings.ticket_label(n) for n in done.tickets) or "none"
    click.echo(
        f"erased {address}: tickets {tickets}; {done.messages} message(s), "
        f"{done.attachments} attachment(s), {done.spool_rows} received and "
        f"{done.outbox_rows} outgoing mail(s)"
    )


@main.command("export")
@click.argument("address")
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="The zip file to write."
)
@click.option("--without-notes", is_flag=True, help="Leave the desk's internal notes out.")
@pass_app
@friendly_errors
def export_cmd(app: App, address: str, out: Path, without_notes: bool) -> None:
    """Everything held about a person, as a zip (JSON, their files and a README)."""
    done = export_person(app.database(), app.ctx, address, out, internal_notes=not without_notes)
    click.echo(
        f"wrote {out}: {done.tickets} ticket(s), {done.messages} message(s), {done.files} file(s)"
    )


@main.command("retention")
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON.")
@pass_app
@friendly_errors
def retention_cmd(app: App, as_json: bool) -> None:
    """Apply the retention settings now (the scheduler does it every hour)."""
    counts = run_retention(app.database(), app.ctx)
    if as_json:
        emit_json(counts)
        return
    click.echo(
        f"raw mail dropped from {counts['spool_bytes_dropped']} spool row(s), "
        f"{counts['audit_archived']} audit row(s) archived, "
        f"{counts['archive_deleted']} archived row(s) deleted"
    )
