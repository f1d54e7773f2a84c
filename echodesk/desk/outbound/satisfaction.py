"""Asking the customer to rate the help: three signed links under the resolving mail.

With ``satisfaction: on``, the mail that tells a customer their ticket is
resolved carries ``satisfaction_text`` with a link per rating (good, okay,
bad). An agent's reply that resolves the ticket carries it below the
agent's words; a resolve without words, and auto-close, send it in a mail
of its own (auto-close: under its notice). Each link is signed for its
ticket (``echodesk.signing``), so it rates that ticket and no other; the web
archive's rating page (``web/rating.py``) records a rating only when the
customer presses its button, never on the GET a mail scanner makes.
"""

from __future__ import annotations

from datetime import datetime
from string import Template

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.context import DeskContext
from echodesk.desk.outbound.queue import load_conversation, message_row, outgoing, queue
from echodesk.signing import make_token
from echodesk.statuses import RATINGS
from echodesk.store import messages
from echodesk.store.tickets import Ticket

#: The token's first field: a rating link (reply addresses use t, a, n).
TOKEN_KIND = "s"
PURPOSE = "satisfaction"


def rating_links(ctx: DeskContext, ticket_id: int) -> dict[str, str]:
    """The links that rate ``ticket_id``, one per rating (each a page with a button);
    one token signed for the ticket serves all three."""
    token = make_token(ctx.secret, TOKEN_KIND, str(ticket_id))
    return {rating: f"{ctx.settings.public_web_url}/rate/{token}/{rating}" for rating in RATINGS}


def rating_link(ctx: DeskContext, ticket_id: int, rating: str) -> str:
    """The link that rates ``ticket_id`` with ``rating``."""
    return rating_links(ctx, ticket_id)[rating]


def survey(ctx: DeskContext, ticket_id: int) -> str:
    """The rating request for the ticket ('' when ``satisfaction`` is off)."""
    if not ctx.settings.satisfaction:
        return ""
    return Template(ctx.settings.satisfaction_text).safe_substitute(rating_links(ctx, ticket_id))


def with_survey(ctx: DeskContext, ticket_id: int, text: str) -> str:
    """``text`` with the rating request below it (as it is, when satisfaction is off)."""
    asked = survey(ctx, ticket_id)
    return f"{text.rstrip()}\n\n{asked}" if asked else text


def send_survey(
    session: Session, ctx: DeskContext, ticket: Ticket, now: datetime, what: str = "resolved"
) -> bool:
    """Mail the customer the rating request alone ("We have <what> TKT-1."); whether one
    went out."""
    asked = survey(ctx, ticket.id)
    conv = load_conversation(session, ticket)
    if not asked or conv.customer is None:
        return False
    label = ctx.settings.ticket_label(ticket.number)
    text = f"We have {what} {label}. {asked}"
    mail = outgoing(ctx, conv, text, now=now, auto_submitted="auto-generated", with_cc=False)
    message = message_row(mail, ticket.id, kind=PURPOSE, agent_id=None, now=now)
    messages.add(session, message)
    queued = queue(session, ctx, mail, purpose=PURPOSE, ticket_id=ticket.id, message_pk=message.id)
    audit.record(
        session, "system:satisfaction", "tickets.survey", ticket, {"outbox": list(queued.ids)}, now
    )
    return True


__all__ = ["PURPOSE", "TOKEN_KIND", "rating_link", "send_survey", "survey", "with_survey"]
