"""``echodesk do TICKET --as AGENT '#assign bob' '#status pending'``: the verbs, no mail.

What an agent writes on top of a reply, checked and applied exactly as the
reply would be (:mod:`echodesk.desk.agents.direct`): every line or none,
the same audit rows, the same notifications to the other agents. An error
changes nothing and names each bad line; the exit code is then 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.agents.direct import Refused, act
from echodesk.errors import EchoError
from echodesk.store.types import utcnow


def _text(path: Path | None) -> str:
    """The text for the customer (or the note, with #note): a file, '-' for standard input."""
    if path is None:
        return ""
    data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EchoError(f"the text is not UTF-8 (byte {exc.start})") from exc


@main.command("do")
@click.argument("ticket")
@click.argument("lines", nargs=-1)
@click.option("--as", "agent", required=True, metavar="EMAIL", help="The agent who acts.")
@click.option(
    "--text",
    "text_file",
    type=click.Path(allow_dash=True, dir_okay=False, path_type=Path),
    help="Text for the customer (a reply), or with '#note' an internal note; '-': stdin.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def do_cmd(
    app: App, ticket: str, lines: tuple[str, ...], agent: str, text_file: Path | None, as_json: bool
) -> None:
    """Apply command lines to TICKET as AGENT would by replying, all or none."""
    text = _text(text_file)
    try:
        with app.database().transaction() as session:
            done = act(session, app.ctx, ticket, agent, lines, text, utcnow())
    except Refused as refused:
        if as_json:
            emit_json({"ticket": ticket, "applied": False, "errors": refused.reasons})
        else:
            click.echo(f"nothing was changed on {ticket}:", err=True)
            for reason in refused.reasons:
                click.echo(f"  {reason}", err=True)
        sys.exit(1)
    if as_json:
        emit_json({"ticket": done.ticket, "applied": True, "done": done.done})
        return
    click.echo(f"{done.ticket}: {', '.join(done.done) or 'nothing to do'}")
    for answer in done.answers:
        click.echo(answer)
