"""The archive's pages: tickets, one ticket, a customer, the spool, the agents. Read-only.

Each page works without JavaScript (plain links and GET forms); with it,
htmx swaps only the results when a filter, an order or a page changes (the
server sees ``HX-Request`` and renders just that part, with the status tabs
out of band so that they follow).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from echodesk.config import Settings
from echodesk.errors import EchoError
from echodesk.statuses import STATUSES
from echodesk.store import archive, search, ticketlist
from echodesk.store.blobs import BlobStore, BlobStoreError, CorruptBlobError
from echodesk.store.models import Attachment, Ticket
from echodesk.web import listing
from echodesk.web.auth import viewer
from echodesk.web.html import content_id, data_url, document, frame_policy, has_remote_images
from echodesk.web.numbers import ID, MAX_ID, whole_number

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

log = logging.getLogger(__name__)
PER_PAGE = 25
#: Bytes of inline images written into one framed message (larger screenshots stay files).
_INLINE_BUDGET = 8_000_000
MAX_PAGE = 10_000


def _unavailable(filename: str, ticket: str, exc: Exception) -> Response:
    """The page shown instead of a file whose bytes cannot be had, naming its ticket:
    410 when they are gone or damaged, 503 (try again) when their store does not answer."""
    name = filename or "attachment"
    log.warning("attachment %s of %s not served: %s", name, ticket, exc)
    if isinstance(exc, BlobStoreError):
        text = (
            f"The file {name} of {ticket} cannot be fetched right now: the store that "
            "holds it does not answer. Try again in a few minutes."
        )
        page = render_template("error.html", title="File not available", text=text)
        return Response(page, 503, {"Retry-After": "60"}, mimetype="text/html")
    why = (
        "is damaged: its bytes no longer match the checksum recorded for it"
        if isinstance(exc, CorruptBlobError)
        else "is no longer stored"
    )
    text = (
        f"The file {name} of {ticket} {why}. The rest of the ticket is intact; "
        "an operator can list every such file with 'echodesk blobs check'."
    )
    page = render_template("error.html", title="File not available", text=text)
    return Response(page, 410, mimetype="text/html")


def label_number(prefix: str, label: str) -> int | None:
    """42 for ``TKT-0042`` or ``tkt-42`` (ASCII digits, a number the database holds)."""
    head, dash, digits = label.rpartition("-")
    if not dash or head.lower() != prefix.lower():
        return None
    return whole_number(digits, 1, MAX_ID)


def _inline_images(session: Session, blobs: BlobStore, message_pk: int) -> dict[str, str]:
    """Each inline image of the message (by Content-ID) as a ``data:`` URL of Echo's copy.

    Written into the framed document itself rather than linked: one document
    holds the whole message, with no further request to the archive for each
    image, and the frame's policy can stay at ``img-src data:``, with nothing
    fetched from anywhere.
    Only raster images are taken (never SVG), up to ``_INLINE_BUDGET`` bytes.
    """
    rows = session.execute(
        select(Attachment.content_id, Attachment.storage_key, Attachment.size)
        .where(
            Attachment.message_pk == message_pk,
            Attachment.content_id != "",
            Attachment.erased_at.is_(None),
        )
        .order_by(Attachment.id)
    )
    found: dict[str, str] = {}
    budget = _INLINE_BUDGET
    for cid, key, size in rows:
        if size > budget or not key:
            continue
        try:
            url = data_url(blobs.get(key))
        except (KeyError, BlobStoreError) as exc:
            log.warning("inline image %s of message %s not shown: %s", cid, message_pk, exc)
            continue
        if url is not None:
            found.setdefault(content_id(f"cid:{cid}"), url)
            budget -= size
    return found


def _page_number() -> int:
    """The page asked for; a page number that is no number (or too large) shows the first."""
    return whole_number(request.args.get("page"), 1, MAX_PAGE) or 1


def _filters() -> dict[str, str]:
    keys = ("status", "tag", "assignee", "q")
    found = {k: request.args.get(k, "").strip()[:1000] for k in keys}
    if found["status"] not in ("", *STATUSES):
        found["status"] = ""
    return found


def register(bp: Blueprint, web: WebContext) -> None:
    """The archive's pages: the lists, and one ticket with its mail and files."""
    listing.install(bp)
    _register_lists(bp, web)
    _register_desk_pages(bp, web)
    _register_ticket(bp, web)


def _search_page(
    session: Session, settings: Settings, filters: dict[str, str]
) -> tuple[archive.Page, dict[str, str | None], str]:
    """A page of search results for the list (the filters become query terms), the
    cursors of the pages after and before it; or an empty page and the query's error
    (a damaged or foreign page link is one: it never pages from a point no page showed)."""
    query = filters["q"]
    query += f" status:{filters['status']}" if filters["status"] else ""
    query += f" tag:{filters['tag']}" if filters["tag"] else ""
    query += f" assignee:{filters['assignee']}" if filters["assignee"] else ""
    cursor = request.args.get("cursor", "").strip() or None
    try:
        found = search.search(session, query, limit=PER_PAGE, cursor=cursor, me=viewer().email)
    except EchoError as exc:
        return archive.Page([], 0, 1, PER_PAGE), {}, str(exc)
    ids = [h.ticket_id for h in found.hits]
    rows = archive.tickets_by_ids(session, settings, ids, details=True)
    snippets = {h.ticket_id: h.snippet for h in found.hits}
    for row, hit in zip(rows, found.hits, strict=False):
        row["snippet"] = snippets.get(hit.ticket_id, "")
    number = found.position // PER_PAGE + 1
    page = archive.Page(rows, found.total, number, PER_PAGE, found.capped)
    return page, {"next": found.next, "previous": found.previous}, ""


def _register_lists(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db

    @bp.get("/")
    def tickets() -> str:
        filters = _filters()
        page = _page_number()
        sort = ticketlist.chosen(request.args.get("sort"), request.args.get("dir"))
        error = ""
        cursors: dict[str, str | None] = {}
        with db.reading() as session:
            counts = archive.status_counts(session)
            if filters["q"]:
                result, cursors, error = _search_page(session, settings, filters)
            else:
                result = archive.ticket_page(
                    session,
                    settings,
                    status=filters["status"] or None,
                    tag=filters["tag"] or None,
                    assignee=filters["assignee"] or None,
                    page=page,
                    per_page=PER_PAGE,
                    sort=sort,
                    details=True,
                    counts=counts,
                )
            tags = archive.all_tags(session)
            people = [a for a in archive.agents(session) if a["active"]]
        partial = bool(request.headers.get("HX-Request"))
        return render_template(
            "_results.html" if partial else "tickets.html",
            page=result,
            counts=counts,
            filters=filters,
            tags=tags,
            agents=people,
            error=error,
            cursors=cursors,
            statuses=STATUSES,
            oob=partial,
            **_sorting(url_for(f"{bp.name}.tickets"), filters, sort),
        )

    @bp.get("/customers")
    def customers() -> str:
        query = request.args.get("q", "")[:200]
        with db.reading() as session:
            found = archive.customers_page(session, query, _page_number())
        return render_template("customers.html", page=found, q=query)

    @bp.get(f"/customer/<{ID}:customer_id>")
    def customer(customer_id: int) -> str:
        with db.reading() as session:
            person = archive.customer(session, settings, customer_id)
        if person is None:
            abort(404)
        return render_template("customer.html", c=person)


def _sorting(here: str, filters: dict[str, str], sort: ticketlist.Sort) -> dict[str, Any]:
    """What the list's templates need to keep an order: the order, the parameters every
    other link carries, and each column header's link. A search keeps its own order
    (best match first), so its headers are no links."""
    return {
        "sort": sort,
        "keep": listing.sort_args(sort),
        "sort_links": {} if filters["q"] else listing.sort_links(here, filters, sort),
    }


def _register_desk_pages(bp: Blueprint, web: WebContext) -> None:
    """The spool's problems, the saved replies and the agents."""
    settings, db = web.settings, web.db

    @bp.get("/spool")
    def spool() -> str:
        with db.reading() as session:
            problems = archive.spool_problems(session, settings)
        return render_template("spool.html", problems=problems)

    @bp.get("/replies")
    def replies() -> str:
        found, problem = web.saved_replies()
        return render_template(
            "replies.html", replies=found, problem=problem, path=settings.replies_file
        )

    @bp.get("/agents")
    def agents() -> str:
        with db.reading() as session:
            people = archive.agents(session)
        return render_template("agents.html", agents=people)


def _frame_headers(remote_images: bool) -> Headers:
    """A message's HTML is shown in a sandboxed frame: no scripts, no referrer, no cache."""
    return Headers(
        {
            "Content-Security-Policy": frame_policy(remote_images=remote_images),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
    )


def _download(name: str, data: bytes) -> Response:
    """A file is always a download, never rendered in the archive's origin."""
    headers = Headers()
    headers.add("Content-Disposition", "attachment", filename=name)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return Response(data, mimetype="application/octet-stream", headers=headers)


def _register_ticket(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db

    @bp.get(f"/ticket/<{ID}:number>")
    def ticket(number: int) -> str:
        with db.reading() as session:
            found = session.query(Ticket).filter(Ticket.number == number).first()
            if found is None:
                abort(404)
            detail = archive.conversation(session, settings, found)
            for row in detail["messages"]:
                html = ""
                if row["has_html"]:
                    msg = archive.message(session, row["id"])
                    html = msg.body_html if msg is not None else ""
                row["remote_images"] = has_remote_images(html)
        return render_template("ticket.html", t=detail)

    @bp.get("/ticket/<label>")
    def ticket_by_label(label: str) -> WerkzeugResponse:
        """``/ticket/TKT-0042`` (the number as mail and the command line write it) is
        ``/ticket/42``: a reference pasted from a subject line leads to the ticket."""
        number = label_number(settings.ticket_prefix, label)
        if number is None:
            abort(404)
        return redirect(url_for(f"{bp.name}.ticket", number=number))

    @bp.get(f"/ticket/<{ID}:number>/message/<{ID}:message_id>.html")
    def message_html(number: int, message_id: int) -> Response:
        allow = request.args.get("images") == "1"
        with db.reading() as session:
            msg = archive.message(session, message_id)
            owner = session.get(Ticket, msg.ticket_id) if msg is not None else None
            if msg is None or owner is None or owner.number != number or not msg.body_html:
                abort(404)
            images = _inline_images(session, web.blobs, message_id)
            page = document(msg.body_html, remote_images=allow, inline=images)
        return Response(page, mimetype="text/html", headers=_frame_headers(allow))

    @bp.get(f"/attachment/<{ID}:attachment_id>")
    def attachment(attachment_id: int) -> Response:
        with db.reading() as session:
            found = archive.attachment(session, attachment_id)
        if found is None or found[0].erased_at is not None:
            abort(404)
        row, number = found
        try:
            data = web.blobs.get(row.storage_key)
        except (KeyError, BlobStoreError) as exc:
            return _unavailable(row.filename, settings.ticket_label(number), exc)
        return _download(row.filename or "attachment", data)
