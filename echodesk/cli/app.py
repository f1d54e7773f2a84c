"""The ``echodesk`` command's shared parts: the lazily opened app, errors, JSON.

The command line is the composition root: only here are settings loaded, the
database opened and the parts wired together. Expected failures
(:class:`EchoError`) print one clear line and exit with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from echodesk import __version__
from echodesk.config import Settings, load
from echodesk.errors import EchoError
from echodesk.metricsdir import share_between_processes
from echodesk.store import migrate
from echodesk.store.db import Database

if TYPE_CHECKING:
    from echodesk.desk.context import DeskContext

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
        from echodesk.desk.context import DeskContext  # only commands that need the desk

        return DeskContext.for_settings(self.settings, self.database())

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


def emit_rows(
    rows: Sequence[Mapping[str, Any]],
    as_json: bool,
    lines: Callable[[Sequence[Mapping[str, Any]]], list[str]],
    empty: str,
) -> None:
    """Print a listing as every listing command does: the rows as one JSON array for
    scripts; for people ``empty`` when there are none, then the table ``lines`` makes."""
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(empty)
    for line in lines(rows):
        click.echo(line)


def list_alone(click_ctx: click.Context, listing: Callable[..., None], *args: Any) -> None:
    """Run a group's ``listing`` when the group is called without a subcommand.

    ``agents``, ``outbox``, ``quarantine`` and ``spool`` list when called alone;
    a group callback gets no app and no error handling of its own, so the
    listing is given both here, as a command would have them.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    app = click_ctx.find_object(App)
    assert app is not None
    friendly_errors(listing)(app, *args)


#: Which module defines each command: a command's module is imported only when it runs,
#: so ``echodesk tickets`` does not pay for the SMTP server, the web archive or the rules.
COMMAND_MODULES = {
    "agents": "agents",
    "autoclose": "running",
    "blobs": "blobs",
    "connect": "connect",
    "db": "inbound",
    "do": "act",
    "erase": "privacy",
    "export": "privacy",
    "ingest": "ingest",
    "note": "outbound",
    "outbox": "outbound",
    "poll": "running",
    "quarantine": "quarantine",
    "replies": "replies",
    "reply": "outbound",
    "report": "report",
    "retention": "privacy",
    "rules": "rules",
    "search": "search",
    "secret": "secret",
    "serve": "running",
    "show": "inbound",
    "spool": "inbound",
    "status": "status",
    "tag": "search",
    "tickets": "inbound",
    "untag": "search",
    "web": "running",
    "worker": "running",
}


#: Commands that run for long, start other processes, and answer /metrics for all of them.
POOLED_METRICS = frozenset({"serve", "worker", "web"})


class LazyGroup(click.Group):
    """A click group that imports a command's module when the command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if cmd_name in POOLED_METRICS:  # before prometheus_client is first imported
            share_between_processes()
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"echodesk.cli.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup)
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
