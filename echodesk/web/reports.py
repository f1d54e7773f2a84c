"""The Reports page: the desk's figures over a period, each chart beside its table and CSV.

Every chart is an SVG image drawn on the server (:mod:`echodesk.web.charts`)
from the same :class:`~echodesk.store.figuretables.Table` the page shows
beside it and the CSV link downloads, so the three never disagree and a
screen reader has the figures without the picture. A period that cannot be
read, is reversed or absurd gives the page with a message and no figures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy.orm import Session

from echodesk.store import figures as fig
from echodesk.store import figuretables as tables
from echodesk.store.figures import CalendarFor, Period
from echodesk.store.periods import DEFAULT_SINCE, parse_period
from echodesk.store.types import utcnow
from echodesk.store.workdays import Calendar
from echodesk.web.charts import DRAW, svg

if TYPE_CHECKING:
    from datetime import datetime

    from echodesk.web.app import WebContext

#: The periods offered in the form.
PERIODS = ("7d", "30d", "90d", "365d")
#: The page's tables, in order.
NAMES = ("volume", "times", "backlog", "agents", "tags", "sla", "ratings")
#: Up to this many days the volume is counted per day, beyond per week.
_DAILY_UP_TO = 62
#: The chart's own policy: pygal styles its drawing inline; nothing else is allowed.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _form() -> dict[str, str]:
    """The period as asked (each field cut short: a period is never long)."""
    return {k: request.args.get(k, "").strip()[:40] for k in ("since", "from", "to", "by")}


def _period(form: dict[str, str], zone: str, now: datetime) -> tuple[Period | None, str]:
    """The period the form asks for, or why there is none to report on."""
    dates = form["from"] or form["to"]
    try:
        period = parse_period(
            None if dates else form["since"] or DEFAULT_SINCE,
            form["from"] or None,
            form["to"] or None,
            zone,
            now,
        )
    except ValueError as exc:
        return None, f"That period cannot be read: {exc}."
    problem = period.problem(now)
    return (None, problem) if problem else (period, "")


def _step(form: dict[str, str], period: Period) -> str:
    if form["by"] in ("day", "week"):
        return form["by"]
    return "day" if period.end - period.start <= timedelta(days=_DAILY_UP_TO) else "week"


def _builders(
    session: Session, period: Period, now: datetime, build: CalendarFor, step: str
) -> dict[str, Callable[[], tables.Table]]:
    """Each table of the page, computed only when asked for (a chart needs only its own)."""
    known: dict[str, object] = {}

    def cal() -> Calendar:
        if "cal" not in known:
            known["cal"] = fig.calendar(session, period, now, build)
        found = known["cal"]
        assert isinstance(found, Calendar)
        return found

    return {
        "volume": lambda: tables.volume_table(fig.volume(session, period, cal(), step), step),
        "times": lambda: tables.times_table(fig.times(session, period, cal())),
        "backlog": lambda: tables.backlog_table(fig.backlog(session, now)),
        "agents": lambda: tables.group_table(fig.groups(session, period, cal(), "agent"), "agent"),
        "tags": lambda: tables.group_table(fig.groups(session, period, cal(), "tag"), "tag"),
        "sla": lambda: tables.sla_table(fig.sla_met(session, period)),
        "ratings": lambda: tables.ratings_table(fig.ratings(session, period)),
    }


def register(bp: Blueprint, web: WebContext) -> None:
    """``/reports``, and each of its charts as ``.svg`` and ``.csv``."""
    settings, db = web.settings, web.db

    @bp.get("/reports")
    def reports() -> tuple[str, int]:
        form, now = _form(), utcnow()
        period, message = _period(form, settings.timezone, now)
        if web.calendar_for is None:
            message = "Reports need the desk's calendar, which this server was not given."
        shown: list[tables.Table] = []
        summary: dict[str, int] = {}
        if period is not None and web.calendar_for is not None:
            with db.reading() as session:
                made = _builders(session, period, now, web.calendar_for, _step(form, period))
                shown = [made[name]() for name in NAMES]
                opened, resolved = fig.totals(session, period)
                summary = {"opened": opened, "resolved": resolved}
        query = {k: v for k, v in form.items() if v}
        return render_template(
            "reports.html",
            form=form,
            periods=PERIODS,
            message=message,
            tables=shown,
            summary=summary,
            query=query,
            human=tables.human_duration,
        ), 200

    def one(name: str) -> tables.Table | Response:
        """The named table of the asked period, or a plain answer saying why not."""
        if name not in DRAW:
            abort(404)
        form, now = _form(), utcnow()
        period, message = _period(form, settings.timezone, now)
        if period is None or web.calendar_for is None:
            return Response(message or "no calendar", 400, mimetype="text/plain")
        with db.reading() as session:
            return _builders(session, period, now, web.calendar_for, _step(form, period))[name]()

    @bp.get("/reports/<name>.svg")
    def report_chart(name: str) -> Response:
        found = one(name)
        if isinstance(found, Response):
            return found
        response = Response(svg(found), mimetype="image/svg+xml")
        response.headers["Content-Security-Policy"] = SVG_POLICY
        return response

    @bp.get("/reports/<name>.csv")
    def report_csv(name: str) -> Response:
        found = one(name)
        if isinstance(found, Response):
            return found
        response = Response(found.csv(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="echo-{name}.csv"'
        return response


__all__ = ["NAMES", "PERIODS", "register"]
