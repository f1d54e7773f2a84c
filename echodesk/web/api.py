"""JSON for scripts: the same ticket fields as ``echodesk tickets --json`` and ``show --json``.

Behind the same sign-in as the pages, or a read-only Bearer token (setting
``api_token``). Read-only, like everything in the archive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, jsonify, request

from echodesk.store import archive, reports
from echodesk.store.archive import STATUSES
from echodesk.store.tickets import by_number

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

MAX_PER_PAGE = 500


def register(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db

    @bp.get("/api/tickets")
    def api_tickets() -> Response:
        status = request.args.get("status") or None
        if status is not None and status not in STATUSES:
            abort(400, f"status must be one of {', '.join(STATUSES)}")
        try:
            page = max(1, int(request.args.get("page", "1")))
            per_page = max(1, min(MAX_PER_PAGE, int(request.args.get("per_page", "100"))))
        except ValueError:
            abort(400, "page and per_page are whole numbers")
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
        if number is None:
            abort(404)
        with db.reading() as session:
            ticket = by_number(session, number)
            if ticket is None:
                abort(404)
            detail = reports.ticket_detail(session, settings, ticket)
        return jsonify(detail)
