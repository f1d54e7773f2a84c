"""``echodesk report``: the desk's figures over a period, for people, scripts or a sheet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.config import duration_seconds
from echodesk.errors import EchoError
from echodesk.store.figures import Figures, Spread, figures
from echodesk.store.types import utcnow

#: The longest period a report may cover.
MAX_DAYS = 3660


@main.command("report")
@click.option("--since", default="30d", show_default=True, help="Period: 7d, 30d, 12h ...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="metric,value rows.")
@pass_app
@friendly_errors
def report_cmd(app: App, since: str, as_json: bool, as_csv: bool) -> None:
    """Tickets opened and resolved, first response and resolution times (median, 90th
    percentile), the open backlog by age, SLA targets met in time, customers' ratings."""
    try:
        seconds = duration_seconds(since)
    except ValueError as exc:
        raise EchoError(f"--since: {exc}") from None
    if not 0 < seconds <= MAX_DAYS * 86400:
        raise EchoError(f"--since: between 1 minute and {MAX_DAYS} days")
    now = utcnow()
    with app.database().reading() as session:
        found = figures(session, now - timedelta(seconds=seconds), now)
    if as_json:
        emit_json(found.as_dict())
    elif as_csv:
        click.echo(_csv(found), nl=False)
    else:
        click.echo("\n".join(f"{name:<36}{value}" for name, value in _lines(found, since)))


def _rows(found: Figures) -> list[tuple[str, str]]:
    rows = [("opened", str(found.opened)), ("resolved", str(found.resolved))]
    for name, spread in (
        ("first_response", found.first_response),
        ("resolution", found.resolution),
    ):
        rows += [
            (f"{name}_count", str(spread.count)),
            (f"{name}_median_seconds", _plain(spread.median)),
            (f"{name}_p90_seconds", _plain(spread.p90)),
        ]
    rows += [(f"backlog {label}", str(n)) for label, n in found.backlog.items()]
    rows += [
        (f"sla {target} met in time", f"{ok}/{n}") for target, (ok, n) in found.sla_met.items()
    ]
    rows += [(f"rating {rating}", str(n)) for rating, n in found.ratings.items()]
    return rows


def _csv(found: Figures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerows(_rows(found))
    return out.getvalue()


def _lines(found: Figures, since: str) -> list[tuple[str, str]]:
    lines = [("period", f"the last {since}"), ("tickets opened", str(found.opened))]
    lines.append(("tickets resolved or closed", str(found.resolved)))
    lines.append(("first response (median / p90)", _spread(found.first_response)))
    lines.append(("resolution (median / p90)", _spread(found.resolution)))
    lines += [(f"open, {label}", str(n)) for label, n in found.backlog.items()]
    lines += [
        (f"SLA {target.replace('_', ' ')} met in time", f"{ok} of {n}")
        for target, (ok, n) in found.sla_met.items()
    ]
    lines += [(f"rated {rating}", str(n)) for rating, n in found.ratings.items()]
    return lines


def _spread(spread: Spread) -> str:
    if not spread.count:
        return "none yet"
    return f"{_human(spread.median)} / {_human(spread.p90)} ({spread.count} tickets)"


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, rest = divmod(minutes, 60)
    return f"{hours}h {rest:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def _plain(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


__all__ = ["report_cmd"]
