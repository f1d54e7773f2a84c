"""The web app wired to a test desk, as ``echodesk web`` wires it to the real one."""

from __future__ import annotations

from flask import Flask

from echodesk.desk.agents.signin_mail import queue_signin_mail
from echodesk.desk.intake.webhooks import Webhooks
from echodesk.web.app import WebContext, create_app
from tests.support.desk import Desk


def desk_app(desk: Desk) -> Flask:
    """The archive, API and machine endpoints over ``desk``'s database and settings."""
    web = WebContext(
        settings=desk.settings,
        db=desk.db,
        blobs=desk.ctx.blobs,
        secret=desk.ctx.secret,
        send_link=lambda session, email, link: queue_signin_mail(session, desk.ctx, email, link),
        hooks=Webhooks(desk.db, desk.ctx),
    )
    app = create_app(web)
    app.config["TESTING"] = True
    return app
