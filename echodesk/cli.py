"""The ``echodesk`` command: the composition root.

Only here are settings loaded, the database opened and the parts wired
together. Expected failures (:class:`EchoError`) print one clear line and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import imaplib
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property, wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from echodesk import __version__
from echodesk.config import Settings, load
from echodesk.desk.context import DeskContext
from echodesk.desk.intake import Intake
from echodesk.desk.pipeline import Outcome
from echodesk.desk.worker import Worker
from echodesk.errors import EchoError, NotFoundError
from echodesk.mailbox.files import count_messages, iter_messages
from echodesk.mailbox.message import Envelope
from echodesk.serving import Services, pollers_for
from echodesk.store import migrate, reports
from echodesk.store import spool as spool_store
from echodesk.store import tickets as ticket_store
from echodesk.store.db import Database

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """Lazily opened parts, shared by the subcommands of one invocation."""

    config_path: Path | None
    _settings: Settings | None = None
    _db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load(self.config_path)
        return self._settings

    def database(self, *, check_schema: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.effective_database_url())
            if check_schema:
                # The embedded SQLite default upgrades itself; PostgreSQL never silently.
                migrate.ensure_current(self._db, auto_upgrade=self._db.dialect == "sqlite")
        return self._db

    @cached_property
    def ctx(self) -> DeskContext:
        return DeskContext.for_settings(self.settings)

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def friendly_errors(func: F) -> F:
    """Turn EchoError into 'echodesk: error: ...' and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EchoError as exc:
            click.echo(f"echodesk: error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, sort_keys=False))


@click.group()
@click.version_option(__version__, prog_name="echodesk")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Settings file (default: $ECHODESK_CONFIG or ./echodesk.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, verbose: bool) -> None:
    """Echo: an email-native help desk."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = App(config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)


pass_app = click.make_pass_decorator(App)


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
        "recorded_only": sum(1 for o in outcomes if o.state == "processed" and o.ticket_id is None),
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


SMTP_OPTION = click.option(
    "--smtp",
    "smtp_listen",
    metavar="HOST:PORT",
    help="Where the SMTP receiver listens (default: setting smtp_listen).",
)


@main.command()
@SMTP_OPTION
@pass_app
@friendly_errors
def serve(app: App, smtp_listen: str | None) -> None:
    """Run Echo: SMTP receiver, IMAP pollers, worker and scheduled jobs (SIGTERM stops it)."""
    _announce(app, smtp_listen)
    Services(app.settings, app.database(), app.ctx, smtp_listen=smtp_listen).run()
    click.echo("stopped", err=True)


@main.command()
@SMTP_OPTION
@click.option("--until-idle", is_flag=True, help="Only process the spool, then exit.")
@pass_app
@friendly_errors
def worker(app: App, smtp_listen: str | None, until_idle: bool) -> None:
    """Everything but the web archive (Procfile's worker); several may share a database."""
    if until_idle:
        outcomes = Worker(app.database(), app.ctx).run_until_idle()
        click.echo(json.dumps({"processed": len(outcomes)}))
        return
    _announce(app, smtp_listen)
    Services(app.settings, app.database(), app.ctx, smtp_listen=smtp_listen).run()
    click.echo("stopped", err=True)


@main.command()
@click.option("--once", is_flag=True, help="Fetch each mailbox once, process, and exit.")
@pass_app
@friendly_errors
def poll(app: App, once: bool) -> None:
    """Fetch mail from the IMAP accounts in settings (cron: --once)."""
    settings = app.settings
    if not settings.imap:
        raise EchoError("no IMAP accounts in settings (setting 'imap')")
    database = app.database()
    if not once:
        Services(settings, database, app.ctx, with_smtp=False, with_worker=False).run()
        return
    fetched = {}
    for poller in pollers_for(settings, database, app.ctx):
        try:
            fetched[poller.account.name] = poller.poll_once()
        except (OSError, imaplib.IMAP4.error) as exc:
            raise EchoError(f"IMAP account '{poller.account.name}': {exc}") from exc
        finally:
            poller.close()
    outcomes = Worker(database, app.ctx).run_until_idle()
    click.echo(json.dumps({"fetched": fetched, "processed": len(outcomes)}))


def _announce(app: App, smtp_listen: str | None) -> None:
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    settings = app.settings
    accounts = ", ".join(a.name for a in settings.imap) or "none"
    click.echo(
        f"echodesk {__version__}: SMTP on {smtp_listen or settings.smtp_listen}, IMAP "
        f"{accounts}, data in {settings.data_dir}, database {app.database().dialect}; "
        "SIGTERM or Ctrl-C stops",
        err=True,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
