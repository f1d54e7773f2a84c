"""A report's tables drawn as SVG charts on the server, with pygal.

A chart is served as an image of its own (``<img src=…svg>``): an image
runs no script and fetches nothing, so the archive's page keeps its strict
policy, and pygal's own ``<style>`` applies inside the image alone. The
inline configuration script pygal writes for its optional tooltips is cut
out: nothing would run it. Colours are the archive's dark theme.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pygal
from pygal.style import Style

from echodesk.store.figuretables import Cell, Table

_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#e6e8eb",
    foreground_strong="#e6e8eb",
    foreground_subtle="#2a2f3a",
    opacity=".85",
    opacity_hover="1",
    colors=("#4f8cff", "#3ccf8e", "#f2b84b", "#ff6b6b", "#b48cff", "#7aa7ff"),
    font_family=_FONT,
    label_font_family=_FONT,
    major_label_font_family=_FONT,
    value_font_family=_FONT,
    value_label_font_family=_FONT,
    title_font_family=_FONT,
    legend_font_family=_FONT,
    tooltip_font_family=_FONT,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    title_font_size=16,
    no_data_font_size=22,
)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
HOUR = 3600.0


def _number(cell: Cell, scale: float = 1.0) -> float | None:
    if cell is None or isinstance(cell, str):
        return None
    return round(float(cell) / scale, 2)


def _column(table: Table, name: str, scale: float = 1.0) -> list[float | None]:
    at = table.columns.index(name)
    return [_number(row[at], scale) for row in table.rows]


def _labels(table: Table) -> list[str]:
    return [str(row[0]) for row in table.rows]


def _chart(kind: type[pygal.graph.graph.Graph], table: Table, **options: object) -> pygal.Graph:
    chart = kind(
        style=STYLE,
        js=[],
        disable_xml_declaration=True,
        width=720,
        height=360,
        explicit_size=False,
        title=table.title,
        legend_at_bottom=True,
        print_values=False,
        margin=12,
        **options,
    )
    chart.x_labels = _labels(table)
    return chart


def _volume(table: Table) -> pygal.Graph:
    many = len(table.rows) > 16
    chart = _chart(
        pygal.Bar, table, x_label_rotation=45 if many else 0, show_minor_x_labels=not many
    )
    chart.x_labels_major = _labels(table)[:: max(len(table.rows) // 8, 1)] if many else None
    chart.add("opened", _column(table, "opened"))
    chart.add("resolved", _column(table, "resolved"))
    return chart


def _times(table: Table) -> pygal.Graph:
    chart = _chart(pygal.Bar, table, y_title="hours")
    chart.x_labels = [f"{row[0]} ({row[1]})" for row in table.rows]
    chart.add("median", _column(table, "median_seconds", HOUR))
    chart.add("90th percentile", _column(table, "p90_seconds", HOUR))
    return chart


def _simple(value: str) -> Callable[[Table], pygal.Graph]:
    def draw(table: Table) -> pygal.Graph:
        chart = _chart(pygal.Bar, table, show_legend=False)
        chart.add(value, _column(table, value))
        return chart

    return draw


def _groups(first: str, second: str) -> Callable[[Table], pygal.Graph]:
    def draw(table: Table) -> pygal.Graph:
        shown = Table(table.name, table.title, table.columns, table.rows[:15])
        chart = _chart(pygal.HorizontalBar, shown)
        chart.add(first.replace("_", " "), _column(shown, first))
        chart.add(second.replace("_", " "), _column(shown, second))
        return chart

    return draw


DRAW: dict[str, Callable[[Table], pygal.Graph]] = {
    "volume": _volume,
    "times": _times,
    "backlog": _simple("open"),
    "agents": _groups("open_now", "resolved_in_period"),
    "tags": _groups("open_now", "opened_in_period"),
    "sla": _simple("percent_in_time"),
    "ratings": _simple("count"),
}


def svg(table: Table) -> str:
    """The table's chart as an SVG document (no script, no external reference)."""
    chart = DRAW[table.name](table)
    if not table.rows:
        chart.no_data_text = "Nothing in this period"
    return _SCRIPT.sub("", chart.render(is_unicode=True))


__all__ = ["DRAW", "STYLE", "svg"]
