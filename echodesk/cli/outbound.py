"""Commands about mail going out: reply, note, and the outbox."""

from __future__ import annotations

import mimetypes
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_json, emit_rows, friendly_errors, list_alone, main, pass_app
from echodesk.desk.agents.replies import Posted, post
from echodesk.desk.outbound.delivery import Deliverer, sender_for
from echodesk.errors import EchoError, NotFoundError
from echodesk.mailbox.message import AttachmentPart
from echodesk.store import outbox as outbox_store
from echodesk.store import tickets as ticket_store
from echodesk.store.readmodels import iso

AS_OPTION = click.option(
    "--as", "agent", required=True, metavar="EMAIL", help="The agent who writes it."
)
FILE_OPTION = click.option(
    "--file",
    "body_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The text (default: standard input).",
)
ATTACH_OPTION = click.option(
    "--attach",
    "attach",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file to attach (repeatable).",
)


def _ticket_number(app: App, label: str) -> int:
    number = app.settings.parse_ticket_label(label)
    if number is None:
        raise NotFoundError(
            f"{label!r} is not a ticket number (like {app.settings.ticket_label(42)})"
        )
    return number


def _body(body_file: Path | None) -> str:
    if body_file is not None:
        data = body_file.read_bytes()
    elif sys.stdin.isatty():
        raise EchoError("give the text with --file or on standard input")
    else:
        data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EchoError(f"the text is not UTF-8 (byte {exc.start})") from exc


def _attachments(paths: tuple[Path, ...]) -> tuple[AttachmentPart, ...]:
    parts = []
    for path in paths:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        parts.append(AttachmentPart(filename=path.name, content_type=ctype, data=path.read_bytes()))
    return tuple(parts)


def _report(app: App, posted: Posted, what: str, as_json: bool) -> None:
    label = app.settings.ticket_label(posted.ticket_number)
    if as_json:
        emit_json(
            {
                "ticket": label,
                "message_id": posted.message_id,
                "status": posted.status,
                "outbox": list(posted.outbox_ids),
                "suppressed": list(posted.suppressed),
            }
        )
        return
    click.echo(f"{what} on {label} ({posted.status}); Message-ID <{posted.message_id}>")
    for address in posted.suppressed:
        click.echo(f"  not sent to {address}: mail to it bounced", err=True)


def _posting_command(name: str, summary: str, *, note: bool, done: str) -> None:
    """Declare ``reply`` or ``note``: they take the same arguments and differ only in
    what is posted and what is said when it is (``done``)."""

    @main.command(name, help=summary)
    @click.argument("ticket")
    @AS_OPTION
    @FILE_OPTION
    @ATTACH_OPTION
    @click.option("--json", "as_json", is_flag=True)
    @pass_app
    @friendly_errors
    def command(
        app: App,
        ticket: str,
        agent: str,
        body_file: Path | None,
        attach: tuple[Path, ...],
        as_json: bool,
    ) -> None:
        number = _ticket_number(app, ticket)
        text, files = _body(body_file), _attachments(attach)
        with app.database().transaction() as session:
            posted = post(session, app.ctx, number, agent, text, files, note=note)
        _report(app, posted, done, as_json)


_posting_command(
    "reply",
    "Queue an agent's reply to the ticket's customer, as an email reply would.",
    note=False,
    done="reply queued",
)
_posting_command(
    "note",
    "Add an internal note to a ticket (never sent to the customer).",
    note=True,
    done="note added",
)


def _row(row: Any, labels: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "purpose": row.purpose,
        "rcpt": row.rcpt,
        "ticket": labels.get(row.ticket_id or 0),
        "message_id": row.message_id,
        "attempts": row.attempts,
        "reason": row.reason,
        "last_error": row.last_error,
        "mail_from": row.mail_from,
        "created_at": iso(row.created_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.state == "queued" else None,
        "sent_at": iso(row.sent_at),
    }


@main.group("outbox", invoke_without_command=True)
@click.option("--state", type=click.Choice(list(outbox_store.STATES)))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_cmd(click_ctx: click.Context, state: str | None, as_json: bool) -> None:
    """Outgoing mail: queued, sent, failed, suppressed; 'outbox retry ID' requeues one."""
    list_alone(click_ctx, _outbox_list, state, as_json)


def _outbox_list(app: App, state: str | None, as_json: bool) -> None:
    with app.database().reading() as session:
        found = outbox_store.rows(session, state)
        numbers = ticket_store.numbers_of(session, {r.ticket_id for r in found if r.ticket_id})
        labels = {tid: app.settings.ticket_label(n) for tid, n in numbers.items()}
        rows = [_row(r, labels) for r in found]
    empty = "the outbox is empty" if state is None else f"no {state} mail"
    emit_rows(rows, as_json, views.outbox_lines, empty)


@outbox_cmd.command("retry")
@click.argument("row_id", type=int)
@pass_app
@friendly_errors
def outbox_retry(app: App, row_id: int) -> None:
    """Queue a failed or suppressed message again (the sender picks it up)."""
    with app.database().transaction() as session:
        row = outbox_store.retry(session, row_id)
        click.echo(f"outbox row {row_id} to {row.rcpt}: queued")


@outbox_cmd.command("send")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def outbox_send(app: App, as_json: bool) -> None:
    """Deliver what is due now, then exit (for cron; serve and worker do this all along)."""
    deliveries = Deliverer(
        app.database(), app.ctx, sender_for(app.database(), app.ctx)
    ).run_until_idle()
    counts = Counter(d.event for d in deliveries)
    summary = {
        "sent": counts["sent"],
        "deferred": counts["deferred"],
        "failed": counts["rejected"] + counts["exhausted"],
        "suppressed": counts["suppress"],
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(", ".join(f"{k}: {v}" for k, v in summary.items()))
