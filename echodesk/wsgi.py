"""The WSGI entry point for running the web archive under gunicorn (Procfile's ``web``).

A composition root like :mod:`echodesk.cli`: it loads the settings from the
environment and wires the archive to the database and the outbox.
"""

from __future__ import annotations

import logging

from flask import Flask

from echodesk.config import load
from echodesk.desk.context import DeskContext
from echodesk.serving import check_deployment, web_app
from echodesk.store import migrate
from echodesk.store.db import Database

log = logging.getLogger(__name__)


def build(settings_path: str | None = None) -> Flask:
    """The archive app for these settings (the schema must be current)."""
    from pathlib import Path

    settings = load(Path(settings_path) if settings_path else None)
    db = Database(settings.effective_database_url())
    migrate.ensure_current(db, auto_upgrade=db.dialect == "sqlite")
    check_deployment(settings, db.dialect, "web", warn=log.warning)
    return web_app(settings, db, DeskContext.for_settings(settings, db))  # reads the secret


def __getattr__(name: str) -> Flask:
    """``echodesk.wsgi:app`` builds the app on first use (not at import)."""
    if name == "app":
        return build()
    raise AttributeError(name)
