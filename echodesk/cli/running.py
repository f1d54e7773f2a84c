"""Commands that run Echo's long-lived parts (serve, worker, poll) and its jobs."""

from __future__ import annotations

import imaplib
import json
import logging
import sys

import click

from echodesk import __version__
from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.cli.banner import banner
from echodesk.desk.intake.worker import Worker
from echodesk.desk.jobs.autoclose import run_autoclose
from echodesk.errors import EchoError
from echodesk.serving import (
    DeploymentError,
    Services,
    check_deployment,
    platform_listen,
    pollers_for,
)

WEB_OPTION = click.option(
    "--web",
    "web_listen",
    metavar="HOST:PORT",
    help="Where the web archive listens (default: setting web_listen).",
)

SMTP_OPTION = click.option(
    "--smtp",
    "smtp_listen",
    metavar="HOST:PORT",
    help="Where the SMTP receiver listens (default: setting smtp_listen).",
)


@main.command()
@SMTP_OPTION
@WEB_OPTION
@pass_app
@friendly_errors
def serve(app: App, smtp_listen: str | None, web_listen: str | None) -> None:
    """Run Echo: SMTP receiver, IMAP pollers, worker and scheduled jobs (SIGTERM stops it)."""
    web = web_listen or platform_listen() or app.settings.web_listen
    _check_start(app, "serve")
    _announce(app, smtp_listen, web)
    shown = banner(app.settings, smtp_listen or app.settings.smtp_listen, web, sys.argv[0])
    Services(
        app.settings,
        app.database(),
        app.ctx,
        smtp_listen=smtp_listen,
        web_listen=web,
        on_ready=lambda: click.echo(shown),
    ).run()
    click.echo("stopped", err=True)


@main.command("web")
@WEB_OPTION
@pass_app
@friendly_errors
def web_cmd(app: App, web_listen: str | None) -> None:
    """Run only the web archive (gunicorn 'echodesk.wsgi:app' in production)."""
    web = web_listen or platform_listen() or app.settings.web_listen
    _check_start(app, "web")
    click.echo(f"echodesk web archive on http://{web}{app.settings.web_prefix}", err=True)
    Services(
        app.settings,
        app.database(),
        app.ctx,
        with_smtp=False,
        with_worker=False,
        with_scheduler=False,
        web_listen=web,
    ).run()


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
    _check_start(app, "worker")
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


def _check_start(app: App, role: str) -> None:
    """The deployment checks (one line each; exit 2 when they refuse), then the secret.

    The secret is read (or made, by whichever process is first) now, so a
    database that cannot give it stops the start instead of the first reply.
    """
    try:
        check_deployment(
            app.settings,
            app.database().dialect,
            role,
            warn=lambda problem: click.echo(f"echodesk: warning: {problem}", err=True),
        )
    except DeploymentError as exc:
        for problem in exc.problems:
            click.echo(f"echodesk: error: {problem}", err=True)
        sys.exit(2)
    if not app.ctx.secret:  # pragma: no cover - a stored secret is never empty
        raise EchoError("the installation secret is empty")


#: Libraries that log at INFO what Echo's own lines already say (every request, every job).
QUIET_LOGGERS = ("apscheduler", "werkzeug")


def _announce(app: App, smtp_listen: str | None, web: str | None = None) -> None:
    """One start-up line; then one log line per message (``--verbose``: everything)."""
    verbose = logging.getLogger().level <= logging.INFO  # the group's --verbose
    logging.getLogger().setLevel(logging.INFO)
    if verbose:
        logging.getLogger("echodesk").setLevel(logging.DEBUG)
    else:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    settings = app.settings
    accounts = ", ".join(a.name for a in settings.imap) or "none"
    shown = f", web on http://{web}{settings.web_prefix}" if web else ""
    click.echo(
        f"echodesk {__version__}: SMTP on {smtp_listen or settings.smtp_listen}{shown}, IMAP "
        f"{accounts}, data in {settings.data_dir}, database {app.database().dialect}; "
        "SIGTERM or Ctrl-C stops",
        err=True,
    )


@main.command()
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def autoclose(app: App, as_json: bool) -> None:
    """Close tickets pending longer than autoclose_days, once (serve does this hourly)."""
    closed = run_autoclose(app.database(), app.ctx)
    labels = [app.settings.ticket_label(n) for n in closed]
    if as_json:
        emit_json({"closed": labels})
    else:
        click.echo(f"closed {len(labels)} ticket(s)" + (f": {', '.join(labels)}" if labels else ""))
