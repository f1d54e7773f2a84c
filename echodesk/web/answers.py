"""How errors are answered: JSON for machines, a page for people.

Scripts and webhook senders read the status and a JSON ``{"error": ...}``;
an HTML error page (Flask's default) is noise to them, and a proxy or a
retrying provider cannot tell it from a broken server. So every error under
``/api/`` and on the machine endpoints (``/inbound``, ``/bounce``,
``/from-snapshot``) is JSON, Flask's own answers included: 404 for an unknown
path, 405 for a wrong method, 413 for a body over the app's limit, and 500
should anything still slip through. A page of the archive that is not there
gets the archive's own 404 page; other errors keep Flask's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

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


def register(bp: Blueprint, web: WebContext) -> None:
    prefix = web.settings.web_prefix.rstrip("/")

    @bp.app_errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException | tuple[str, int]:
        status = exc.code or 500
        if wants_json(prefix):
            answer = error(status, exc.description or exc.name)
            original = exc.get_response()
            for name in _KEPT:
                if name in original.headers:
                    answer.headers[name] = original.headers[name]
            return answer
        if status != 404:
            return exc  # Flask's own page, as before
        if request.blueprint != bp.name:  # outside the archive's prefix: not ours to dress
            return Response("Not found\n", 404, mimetype="text/plain")
        text = "There is nothing here. Go back to the tickets."
        return render_template("error.html", title="Not found", text=text), 404
