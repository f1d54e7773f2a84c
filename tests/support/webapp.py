"""The web app wired to a test desk, as ``echodesk web`` wires it to the real one."""

from __future__ import annotations

from flask import Flask

from echodesk.serving import web_app
from tests.support.desk import Desk


def desk_app(desk: Desk) -> Flask:
    """The archive, API and machine endpoints over ``desk``'s database and settings."""
    app = web_app(desk.settings, desk.db, desk.ctx)
    app.config["TESTING"] = True
    return app
