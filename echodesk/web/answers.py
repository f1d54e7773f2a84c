"""How errors are answered: JSON for machines, a page for people.

Scripts and webhook senders read the status and a JSON ``{"error": ...}``;
an HTML error page (Flask's default) is noise to them, and a proxy or a
retrying provider cannot tell it from a broken server. So every error under
``/api/`` and on the machine endpoints (``/inbound``, ``/bounce``,
``/from-snapshot``) is JSON, Flask's own answers included: 404 for an unknown
path, 405 for a wrong method, 413 for a body over the app's limit, and 500
should anything still slip through. People get a page of the archive with
the same status, its header and look, and a sentence rather than Flask's
bare text: a page that is not there, a path no route knows (under the
archive's prefix), a form that expired, a server error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from echodesk.web.auth import identify

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

#: The machine endpoints' paths (under the archive's prefix).
MACHINE_PATHS = frozenset({"/inbound", "/bounce", "/from-snapshot"})
#: Headers of an error that a client needs (which methods, which credentials, when to retry).
_KEPT = ("Allow", "WWW-Authenticate", "Retry-After")


def error(status: int, message: str) -> Response:
    """A JSON error answer."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _within(prefix: str) -> str | None:
    """This request's path below the archive's prefix, or None when outside it."""
    path = request.path
    if not prefix:
        return path
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix) :] or "/"
    return None


def wants_json(prefix: str) -> bool:
    """Whether this request went to the API or a machine endpoint."""
    path = _within(prefix)
    if path is None:
        return False
    return path in MACHINE_PATHS or path == "/api" or path.startswith("/api/")


#: What an error page says to a person, by status (Flask's own words are for developers).
_PAGE_TEXT = {
    400: "The request could not be understood. Go back, reload the page and try again.",
    403: "This page is not open to you.",
    404: "There is nothing here. Go back to the tickets.",
    405: "This page cannot be used that way.",
    413: "What was sent is larger than the archive accepts.",
    500: "Something went wrong on the desk's side. Try again in a moment.",
}


def _json_answer(exc: HTTPException, status: int) -> Response:
    answer = error(status, exc.description or exc.name)
    original = exc.get_response()
    for name in _KEPT:
        if name in original.headers:
            answer.headers[name] = original.headers[name]
    return answer


def _page(exc: HTTPException, status: int, archive: str) -> Response:
    """The error as a page of the archive: its header, its look, the same status.

    A message given with the error (``abort(400, "The form expired...")``) is
    shown; otherwise the page's own words for the status. ``archive`` names the
    blueprint, since a path no route matched belongs to none.
    """
    own = exc.description if exc.description != type(exc).description else None
    text = own or _PAGE_TEXT.get(status) or _PAGE_TEXT[500 if status >= 500 else 400]
    page = render_template("error.html", title=exc.name, text=text, archive=archive)
    answer = Response(page, status, mimetype="text/html")
    original = exc.get_response()
    for name in _KEPT:
        if name in original.headers:
            answer.headers[name] = original.headers[name]
    return answer


def register(bp: Blueprint, web: WebContext, secure: Callable[[Response], Response]) -> None:
    """The error handler; ``secure`` adds the archive's security headers to a page
    that no route of the blueprint answered (its own hooks do not run for it)."""
    prefix = web.settings.web_prefix.rstrip("/")

    @bp.context_processor
    def which_archive() -> dict[str, str]:
        """The blueprint the templates link within (it may be mounted under any name)."""
        return {"archive": bp.name}

    @bp.app_errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        status = exc.code or 500
        if wants_json(prefix):
            return _json_answer(exc, status)
        ours = request.blueprint == bp.name or (
            request.blueprint is None and _within(prefix) is not None
        )
        if not ours:  # outside the archive's prefix: not ours to dress
            return Response("Not found\n", 404, mimetype="text/plain") if status == 404 else exc
        if request.blueprint == bp.name:
            return _page(exc, status, bp.name)
        if status == 404 and "viewer" not in g:  # no route ran: who is asking, for the menu
            g.viewer = identify(web.settings, web.db, api=False)
        return secure(_page(exc, status, bp.name))
