"""``echodesk replies``: the saved replies agents insert with ``#reply NAME``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.savedreplies import VARIABLES, RepliesFileError, SavedReplies, load_replies
from echodesk.errors import NotFoundError


@main.group("replies")
def replies_cmd() -> None:
    """Saved replies (setting replies_file): list, check, show."""


def _loaded(app: App, path: Path | None = None) -> SavedReplies:
    target = path or app.settings.replies_file
    if not target.exists() and path is None:
        return SavedReplies(source=str(target))
    return load_replies(target)


@replies_cmd.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@pass_app
@friendly_errors
def replies_check(app: App, path: Path | None) -> None:
    """Validate a saved-replies file (default: setting replies_file); exit 1 if it is wrong."""
    target = path or app.settings.replies_file
    try:
        found = load_replies(target)
    except RepliesFileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{target}: {len(found.replies)} saved reply(ies), no problems")


@replies_cmd.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def replies_list(app: App, as_json: bool) -> None:
    """Every saved reply's name and what it is about."""
    found = _loaded(app)
    if as_json:
        emit_json(
            [{"name": r.name, "about": r.about, "where": r.where} for r in found.replies.values()]
        )
        return
    if not found.replies:
        click.echo(f"no saved replies (write them in {app.settings.replies_file})")
    for name in found.names:
        reply = found.replies[name]
        click.echo(f"{name}  {reply.about or reply.text.splitlines()[0][:60]}")


@replies_cmd.command("show")
@click.argument("name")
@pass_app
@friendly_errors
def replies_show(app: App, name: str) -> None:
    """One saved reply's text, as written (variables: $name)."""
    reply = _loaded(app).get(name)
    if reply is None:
        raise NotFoundError(f"no saved reply named {name!r} ('echodesk replies list')")
    click.echo(reply.text.rstrip("\n"))
    used = [v for v in VARIABLES if f"${v}" in reply.text or f"${{{v}}}" in reply.text]
    if used:
        click.echo(f"\n({reply.where}; variables: {', '.join('$' + v for v in used)})", err=True)
