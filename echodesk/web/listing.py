"""The ticket list's pieces for its templates: how long ago, how soon, the sort links.

Times in the table are relative ("3 h 20 min", "in 45 min") because that is
what a person triaging reads at a glance; the exact moment goes beside them
in a ``<time datetime>`` and its title. They are written at render time on
the server, so the list reads the same with or without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from flask import Blueprint

from echodesk.store.readmodels import read_iso
from echodesk.store.ticketlist import SORTS, Sort
from echodesk.store.types import utcnow


def span(seconds: float) -> str:
    """A duration as a person says it, to the unit that matters: "7 min", "3 h 20 min",
    "2 d 4 h", "45 d"."""
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    if days < 7 and hours:
        return f"{days} d {hours} h"
    return f"{days} d"


def _moment(value: str | None) -> datetime | None:
    return read_iso(value) if value else None


def since(value: str | None, now: datetime | None = None) -> str:
    """How long ago ``value`` (a stored moment as the rows write it) was; '' without one."""
    moment = _moment(value)
    if moment is None:
        return ""
    return span(((now or utcnow()) - moment).total_seconds())


def relative(value: str | None, now: datetime | None = None) -> str:
    """A moment to come as "in 3 h", one past as "3 h ago", within a minute "now";
    '' without one."""
    moment = _moment(value)
    if moment is None:
        return ""
    seconds = (moment - (now or utcnow())).total_seconds()
    if abs(seconds) < 60:
        return "now"
    return f"in {span(seconds)}" if seconds >= 0 else f"{span(seconds)} ago"


def sort_args(sort: Sort) -> dict[str, str]:
    """The query parameters that keep an order across tabs, filters and pages (none for
    the default order, so plain links stay short)."""
    return {} if sort.default else {"sort": sort.key, "dir": sort.direction}


def sort_links(here: str, args: Mapping[str, str], sort: Sort) -> dict[str, str]:
    """Each column's header link: the current column turns around, another one starts
    in its own first direction; on the first page, with the filters kept."""
    turned = "asc" if sort.direction == "desc" else "desc"
    directions = {key: turned if key == sort.key else first for key, first in SORTS.items()}
    return {
        key: f"{here}?{urlencode({**args, 'sort': key, 'dir': direction})}"
        for key, direction in directions.items()
    }


def install(bp: Blueprint) -> None:
    bp.add_app_template_filter(since, "since")
    bp.add_app_template_filter(relative, "relative")
