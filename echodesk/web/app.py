"""The web archive as a Flask blueprint, and an app to run it alone.

:func:`make_blueprint` gives a blueprint that another Flask app can mount;
:func:`create_app` wraps it in a standalone app under ``web_prefix``. What
the archive needs from the rest of Echo comes in a :class:`WebContext` (the
web layer never imports the desk): the database, the blob store, the
installation secret, and the one action it may take, queueing a sign-in
link. Every response carries the security headers; nothing but sign-in
changes anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Flask, Response, g, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.store.blobs import BlobStore
from echodesk.store.db import Database
from echodesk.store.figures import CalendarFor
from echodesk.store.secrets import Keyring
from echodesk.web import answers, api, hooks, monitor, pages, rating, reports, signin
from echodesk.web.auth import identify
from echodesk.web.render import install_filters

HERE = Path(__file__).parent
#: Routes reached without signing in: sign-in, static files, the machine endpoints
#: (which check their own tokens) and the health and metrics endpoints.
PUBLIC = (
    frozenset(
        {
            "signin",
            "signin_link",
            "static",
            "hook_inbound",
            "hook_bounce",
            "hook_snapshot",
            "openapi",
        }
    )
    | monitor.PUBLIC
    | rating.PUBLIC
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    db: Database
    blobs: BlobStore
    secret: bytes
    #: Queue the sign-in mail: (session, agent's registered address, link).
    send_link: Callable[[Session, str, str], None]
    #: The desk's side of the webhooks and snapshots (None: those endpoints answer 503).
    hooks: hooks.IngestHooks | None = None
    #: The installation's secrets, re-read as they rotate (None: ``secret`` alone).
    keyring: Keyring | None = None
    #: The saved replies in force, as (name, about, text), and the file's problem if any.
    saved_replies: Callable[[], tuple[list[tuple[str, str, str]], str]] = lambda: ([], "")
    #: The desk's working calendar for reports (None: the Reports page says it has none).
    calendar_for: CalendarFor | None = None


def _headers(response: Response) -> Response:
    if request.endpoint and request.endpoint.endswith(".message_html"):
        return response  # the framed mail sets its own, stricter policy
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def make_blueprint(web: WebContext, name: str = "archive") -> Blueprint:
    """The archive's pages, sign-in and JSON API (mount it under any prefix)."""
    bp = Blueprint(
        name,
        __name__,
        template_folder=str(HERE / "templates"),
        static_folder=str(HERE / "static"),
        static_url_path="/static",
    )

    @bp.before_request
    def require_viewer() -> Response | None:
        endpoint = (request.endpoint or "").rpartition(".")[2]
        is_api = endpoint.startswith("api_")
        g.viewer = identify(web.settings, web.db, api=is_api)
        g.web = web
        if endpoint in PUBLIC or g.viewer is not None:
            return None
        if is_api:
            return answers.error(401, "sign in or send the API token")
        return redirect(url_for(f"{name}.signin", next=request.full_path))  # type: ignore[return-value]

    bp.after_request(_headers)
    install_filters(bp, web.settings)
    answers.register(bp, web, _headers)
    pages.register(bp, web)
    signin.register(bp, web)
    api.register(bp, web)
    hooks.register(bp, web)
    monitor.register(bp, web)
    rating.register(bp, web)
    reports.register(bp, web)
    return bp


def session_key(secret: bytes) -> bytes:
    """The cookie-signing key: derived from the installation secret, used for nothing else."""
    return hmac.new(secret, b"echodesk web session", hashlib.sha256).digest()


class RotatingSessions(SecureCookieSessionInterface):
    """Session cookies signed with the keyring's newest secret, read with any still in grace.

    The keys are taken from the keyring on every request, so after ``echodesk
    secret rotate`` every web process of every machine moves to the new key
    together and nobody is signed out.
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # itsdangerous signs with the last key and accepts them all.
        keys = [session_key(secret) for secret in reversed(self.keyring.verifying())]
        return URLSafeTimedSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )


def create_app(web: WebContext) -> Flask:
    """A standalone app serving the archive under ``web_prefix``."""
    app = Flask("echodesk.web", static_folder=None)
    secure = web.settings.public_web_url.startswith("https://")
    app.config.update(
        SECRET_KEY=session_key(web.secret),
        SESSION_COOKIE_NAME="echodesk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Webhooks carry whole messages (base64 attachments): the endpoints check finer limits.
        MAX_CONTENT_LENGTH=web.settings.max_message_size * 4 // 3 + 2 * 1024 * 1024,
    )
    if web.keyring is not None:
        app.session_interface = RotatingSessions(web.keyring)
    prefix = web.settings.web_prefix.rstrip("/") or None
    app.register_blueprint(make_blueprint(web), url_prefix=prefix)
    return app
