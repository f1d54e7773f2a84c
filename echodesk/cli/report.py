"""``echodesk report``: the desk's figures over a period, for people, scripts or a sheet."""

from __future__ import annotations

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.tickets.worktime import calendar_for
from echodesk.errors import EchoError
from echodesk.store.figures import BREAKDOWNS, Figures, Spread, figures
from echodesk.store.figuretables import Table, breakdown_table, human_duration, summary_rows
from echodesk.store.periods import parse_period
from echodesk.store.types import utcnow


@main.command("report")
@click.option("--since", default=None, help="Period back from now: 7d, 30d, 12h ... [30d]")
@click.option("--from", "first", default=None, help="First local day, 2026-11-01.")
@click.option("--to", "last", default=None, help="Last local day (included), 2026-11-30.")
@click.option("--by", type=click.Choice(BREAKDOWNS), default=None, help="Break the figures down.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="metric,value rows, or the breakdown's table.")
@pass_app
@friendly_errors
def report_cmd(
    app: App,
    since: str | None,
    first: str | None,
    last: str | None,
    by: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Tickets opened and resolved, first response and resolution times (median, 90th
    percentile, in calendar time and business hours), the open backlog by age, SLA targets
    met in time, customers' ratings; --by day|week|agent|tag breaks them down."""
    settings = app.settings
    now = utcnow()
    if since and (first or last):
        raise EchoError("give --since or --from/--to, not both")
    try:
        period = parse_period(since, first, last, settings.timezone, now)
    except ValueError as exc:
        raise EchoError(f"--since/--from/--to: {exc}") from None
    build = calendar_for(settings.business_hours, settings.timezone)
    with app.database().reading() as session:
        found = figures(session, period, now, build, by or "")
    if found.message:
        raise EchoError(found.message)
    if as_json:
        emit_json(found.as_dict())
    elif as_csv:
        table = breakdown_table(found)
        click.echo(table.csv() if table else _summary_csv(found), nl=False)
    else:
        click.echo(_words(found, since, first, last))


def _summary_csv(found: Figures) -> str:
    rows = tuple((metric, value) for metric, value in summary_rows(found))
    return Table("summary", "Summary", ("metric", "value"), rows).csv()


def _words(found: Figures, since: str | None, first: str | None, last: str | None) -> str:
    if first or last:
        period = f"{first or 'the month before'} to {last or 'today'}"
    else:
        period = f"the last {since or '30d'}"
    lines = [("period", period), ("tickets opened", str(found.opened))]
    lines.append(("tickets resolved or closed", str(found.resolved)))
    times = found.times
    lines.append(("first response (median / p90)", _spread(times.first_response)))
    lines.append(("  in business hours", _spread(times.first_response_business)))
    lines.append(("resolution (median / p90)", _spread(times.resolution)))
    lines.append(("  in business hours", _spread(times.resolution_business)))
    lines += [(f"open, {label}", str(n)) for label, n in found.backlog.items()]
    lines += [
        (f"SLA {target.replace('_', ' ')} met in time", f"{ok} of {n}")
        for target, (ok, n) in found.sla_met.items()
    ]
    lines += [(f"rated {rating}", str(n)) for rating, n in found.ratings.items()]
    text = "\n".join(f"{name:<36}{value}" for name, value in lines)
    table = breakdown_table(found)
    return text if table is None else f"{text}\n\n{_grid(table)}"


def _grid(table: Table) -> str:
    """The breakdown as aligned columns (durations as 1h 05m)."""
    head = [c.replace("_seconds", "").replace("_", " ") for c in table.columns]
    body = [
        [human_duration(c) if "seconds" in name else ("" if c is None else str(c))
         for name, c in zip(table.columns, row, strict=True)]
        for row in table.rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [head, *body]
    )


def _spread(spread: Spread) -> str:
    if not spread.count:
        return "none yet"
    return (
        f"{human_duration(spread.median)} / {human_duration(spread.p90)} ({spread.count} tickets)"
    )


__all__ = ["report_cmd"]
