"""``echodesk search`` over the whole archive, and ``tag`` / ``untag`` by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk import audit
from echodesk.desk.agents.replies import live_ticket
from echodesk.errors import EchoError, NotFoundError
from echodesk.store import writes
from echodesk.store.readmodels import iso
from echodesk.store.search import MARK_END, MARK_START, Hit, Results, search
from echodesk.store.tickets import tags_of

_TAG_RE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,49}")


@main.command("search", context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--all", "every", is_flag=True, help="Every result, page after page.")
@click.option("--after", metavar="CURSOR", help="The page after a search's last (its cursor).")
@click.option("--me", metavar="EMAIL", envvar="ECHODESK_ME", help="Who 'assignee:me' is.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket per line.")
@pass_app
@friendly_errors
def search_cmd(
    app: App,
    query: tuple[str, ...],
    limit: int,
    every: bool,
    after: str | None,
    me: str | None,
    as_json: bool,
) -> None:
    """Find tickets: words, "phrases", prefix*, from: to: customer: subject: status: tag:
    assignee: is:unassigned has:attachment before: after:, -negation, OR.

    A word that starts with '-' is a negation, not an option (``search printer -toner``).
    ``--all`` prints every result, reading the pages one after another by their
    cursors (``--limit`` is then the size of each page); without it, the cursor of
    the next page is printed on stderr for ``--after``.
    """
    text = " ".join(query)
    shown = 0
    for results in _pages(app, text, limit, after, me, every):
        rows = [_row(app, hit) for hit in results.hits]
        if as_json:
            for row in rows:
                emit_json(row)
        else:
            marked = [
                (row, _brackets(hit.snippet)) for row, hit in zip(rows, results.hits, strict=True)
            ]
            for line in views.search_lines(marked):
                click.echo(line)
        shown += len(results.hits)
    if not as_json:
        _summary(results, shown, every)


def _pages(
    app: App, query: str, limit: int, after: str | None, me: str | None, every: bool
) -> Iterator[Results]:
    """The page asked for; with ``every``, it and each page after it, by cursor."""
    cursor = after
    while True:
        with app.database().reading() as session:
            results = search(session, query, limit=limit, cursor=cursor, me=me)
        yield results
        cursor = results.next
        if not every or cursor is None:
            return


def _brackets(snippet: str) -> str:
    return snippet.replace(MARK_START, "[").replace(MARK_END, "]")


def _summary(results: Results, shown: int, every: bool) -> None:
    """How many there are ("N+" when counting stopped early), and how to go on."""
    total = max(results.total, shown) if every else results.total
    plus = "+" if results.capped and not (every and results.next is None) else ""
    more = f" (showing {shown})" if total > shown else ""
    click.echo(f"{total}{plus} ticket(s){more}", err=True)
    if results.next and not every:
        click.echo(f"next page: --after {results.next}", err=True)


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
