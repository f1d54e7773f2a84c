"""JSON for scripts: the same ticket fields as ``echodesk tickets --json`` and ``show --json``.

Behind the same sign-in as the pages, or a read-only Bearer token (setting
``api_token``). Read-only, like everything in the archive. Every error is
JSON (:mod:`echodesk.web.answers`); a query parameter that is not a number in
range is a 400 saying so, a ticket number beyond any stored one a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, jsonify, request

from echodesk.statuses import STATUSES
from echodesk.store import archive, readmodels
from echodesk.store.tickets import by_number
from echodesk.web.numbers import MAX_ID, whole_number

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

MAX_PER_PAGE = 500
#: Far beyond any archive (500 million tickets at the largest page size).
MAX_PAGE = 1_000_000


def register(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db

    @bp.get("/api/tickets")
    def api_tickets() -> Response:
        status = request.args.get("status") or None
        if status is not None and status not in STATUSES:
            abort(400, f"status must be one of {', '.join(STATUSES)}")
        page = whole_number(request.args.get("page", "1"), 1, MAX_PAGE)
        per_page = whole_number(request.args.get("per_page", "100"), 1, MAX_ID)
        if page is None or per_page is None:
            abort(400, f"page and per_page are whole numbers (page from 1 to {MAX_PAGE})")
        per_page = min(per_page, MAX_PER_PAGE)
        with db.reading() as session:
            found = archive.ticket_page(
                session,
                settings,
                status=status,
                tag=request.args.get("tag") or None,
                page=page,
                per_page=per_page,
            )
        rows = [{k: v for k, v in r.items() if k not in ("n", "customer_id")} for r in found.rows]
        return jsonify({"tickets": rows, "total": found.total, "page": page, "per_page": per_page})

    @bp.get("/api/tickets/<label>")
    def api_ticket(label: str) -> Response:
        number = settings.parse_ticket_label(label)
        if number is None or not 0 < number <= MAX_ID:
            abort(404, f"no ticket {label[:100]}")
        with db.reading() as session:
            ticket = by_number(session, number)
            if ticket is None:
                abort(404)
            detail = readmodels.ticket_detail(session, settings, ticket)
        return jsonify(detail)
