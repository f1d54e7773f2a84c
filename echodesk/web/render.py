"""Template filters: dates, sizes, ticket labels and highlighted snippets, all escaped."""

from __future__ import annotations

from flask import Blueprint
from markupsafe import Markup, escape

from echodesk.config import Settings
from echodesk.store.readmodels import read_iso
from echodesk.web import auditwords

MARK_START, MARK_END = "\ue000", "\ue001"  # as echodesk.store.search writes them


def marks(text: str | None) -> Markup:
    """A snippet with its matched words in <mark>, everything else escaped."""
    safe = str(escape(text or ""))
    return Markup(safe.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def when(value: str | None) -> str:
    moment = read_iso(value) if value else None
    return (value or "") if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def size(value: int | None) -> str:
    n = int(value or 0)
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} kB"
    return f"{n / 1024 / 1024:.1f} MB"


def install_filters(bp: Blueprint, settings: Settings) -> None:
    bp.add_app_template_filter(marks, "marks")
    bp.add_app_template_filter(auditwords.describe, "in_words")
    bp.add_app_template_filter(when, "when")
    bp.add_app_template_filter(size, "size")
    bp.add_app_template_filter(settings.ticket_label, "label")
