"""The customers' rating page: the landing of the good / okay / bad links.

No sign-in: the link's token, signed for one ticket
(``desk/outbound/satisfaction.py``), is the customer's only key, and it
rates that ticket and no other. Opening a link records nothing (mail
scanners and link previews open every link); the page shows the ticket's
number and subject, the choice, an optional comment and a button, and only
the press of the button (a POST) records the rating. A rating may be
changed for ``satisfaction_change_days``; presses are counted per client and
per ticket in the database, so a script cannot flood it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, render_template, request

from echodesk.signing import read_token
from echodesk.statuses import RATINGS
from echodesk.store import ratelimit, ratings, tickets
from echodesk.store.types import utcnow
from echodesk.web.auth import client

if TYPE_CHECKING:
    from echodesk.web.app import WebContext

#: Presses one client, and one ticket, may make in an hour.
PER_CLIENT = 30
PER_TICKET = 20
MAX_COMMENT = 2000
PUBLIC = frozenset({"rate", "rate_form"})
_Page = tuple[str, int]


def register(bp: Blueprint, web: WebContext) -> None:
    settings, db = web.settings, web.db

    def ticket_of(token: str) -> tuple[int, str, str] | None:
        """(id, label, subject) of the ticket a valid rating token names."""
        keys = web.keyring.verifying() if web.keyring is not None else (web.secret,)
        fields = read_token(keys, token)
        if fields is None or len(fields) != 2 or fields[0] != "s" or not fields[1].isdigit():
            return None
        with db.reading() as s:
            ticket = tickets.get(s, int(fields[1]))
            if ticket is None:
                return None
            return ticket.id, settings.ticket_label(ticket.number), ticket.subject

    def page(status: int, **values: object) -> _Page:
        return render_template("rate.html", ratings=RATINGS, **values), status

    @bp.get("/rate/<token>/<rating>")
    def rate_form(token: str, rating: str) -> _Page:
        found = ticket_of(token)
        if found is None or rating not in RATINGS:
            return page(404, invalid=True)
        ticket_id, label, subject = found
        with db.reading() as s:
            given = ratings.of(s, ticket_id)
        return page(200, token=token, chosen=rating, label=label, subject=subject, given=given)

    @bp.post("/rate/<token>")
    def rate(token: str) -> _Page:
        found = ticket_of(token)
        rating = request.form.get("rating", "")
        if found is None or rating not in RATINGS:
            return page(404, invalid=True)
        ticket_id, label, subject = found
        comment = request.form.get("comment", "").strip()[:MAX_COMMENT]
        with db.transaction() as s:
            if not ratelimit.take(s, f"rate client {client(settings)}", PER_CLIENT):
                return page(429, busy=True, label=label, subject=subject)
            if not ratelimit.take(s, f"rate ticket {ticket_id}", PER_TICKET):
                return page(429, busy=True, label=label, subject=subject)
            now = utcnow()
            done = ratings.give(
                s, ticket_id, rating, comment, now, settings.satisfaction_change_days
            )
            given = ratings.of(s, ticket_id)
        return page(200, done=done, label=label, subject=subject, given=given, token=token)


__all__ = ["PUBLIC", "register"]
