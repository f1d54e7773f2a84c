"""``echodesk search`` over the whole archive, and ``tag`` / ``untag`` by hand."""

from __future__ import annotations

import re
from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk import audit
from echodesk.desk.agents.replies import live_ticket
from echodesk.errors import EchoError, NotFoundError
from echodesk.store import writes
from echodesk.store.readmodels import iso
from echodesk.store.search import MARK_END, MARK_START, Hit, search
from echodesk.store.tickets import tags_of

_TAG_RE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,49}")


@main.command("search", context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--me", metavar="EMAIL", envvar="ECHODESK_ME", help="Who 'assignee:me' is.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket per line.")
@pass_app
@friendly_errors
def search_cmd(app: App, query: tuple[str, ...], limit: int, me: str | None, as_json: bool) -> None:
    """Find tickets: words, "phrases", prefix*, from: to: customer: subject: status: tag:
    assignee: is:unassigned has:attachment before: after:, -negation, OR.

    A word that starts with '-' is a negation, not an option (``search printer -toner``).
    """
    with app.database().reading() as session:
        results = search(session, " ".join(query), limit=limit, me=me)
    rows = [_row(app, hit) for hit in results.hits]
    if as_json:
        for row in rows:
            emit_json(row)
    else:
        shown = [(row, hit.snippet) for row, hit in zip(rows, results.hits, strict=True)]
        for line in views.search_lines(
            [(row, text.replace(MARK_START, "[").replace(MARK_END, "]")) for row, text in shown]
        ):
            click.echo(line)
    if not as_json:
        more = f" (showing {len(results.hits)})" if results.total > len(results.hits) else ""
        plus = "+" if results.capped else ""  # older matches of a common word not looked at
        click.echo(f"{results.total}{plus} ticket(s){more}", err=True)


def _row(app: App, hit: Hit) -> dict[str, Any]:
    """A result as ``--json`` prints it (matched words in ``**``)."""
    return {
        "number": app.settings.ticket_label(hit.number),
        "subject": hit.subject,
        "status": hit.status,
        "customer": hit.customer,
        "score": round(hit.score, 4),
        "snippet": hit.snippet.replace(MARK_START, "**").replace(MARK_END, "**"),
        "updated_at": iso(hit.updated_at),
    }


def _tags(values: tuple[str, ...]) -> list[str]:
    tags = [v.strip().lower() for v in values if v.strip()]
    bad = [t for t in tags if not _TAG_RE.fullmatch(t)]
    if bad:
        raise EchoError(f"not a tag: {', '.join(bad)} (letters, digits, - _ . : only)")
    return list(dict.fromkeys(tags))


def _change_tags(app: App, label: str, values: tuple[str, ...], add: bool) -> None:
    number = app.settings.parse_ticket_label(label)
    if number is None:
        raise NotFoundError(f"{label!r} is not a ticket number")
    tags = _tags(values)
    with app.database().transaction() as session:
        ticket = live_ticket(session, number)
        if add:
            writes.add_tags(session, ticket.id, tags)
        else:
            writes.remove_tags(session, ticket.id, tags)
        action = "tickets.tag" if add else "tickets.untag"
        audit.record(session, "cli", action, ticket, {"tags": tags})
        now = tags_of(session, [ticket.id])[ticket.id]
        click.echo(f"{app.settings.ticket_label(ticket.number)}: {', '.join(now) or 'no tags'}")


def _tagging_command(name: str, summary: str, *, add: bool) -> None:
    """Declare ``tag`` or ``untag``: the same arguments, the tags added or removed."""

    @main.command(name, help=summary)
    @click.argument("ticket")
    @click.argument("tags", nargs=-1, required=True)
    @pass_app
    @friendly_errors
    def command(app: App, ticket: str, tags: tuple[str, ...]) -> None:
        _change_tags(app, ticket, tags, add=add)


_tagging_command("tag", "Add tags to a ticket.", add=True)
_tagging_command("untag", "Remove tags from a ticket.", add=False)
