"""The mail that carries a web sign-in link to an agent (queued in the outbox)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from echodesk.desk.context import DeskContext
from echodesk.mailbox.compose import OutgoingMail, compose, new_message_id
from echodesk.mailbox.message import Address
from echodesk.store import outbox
from echodesk.store.outbox import NewMail
from echodesk.store.types import utcnow

PURPOSE = "signin"


def queue_signin_mail(session: Session, ctx: DeskContext, email: str, link: str) -> None:
    """Queue the link to the agent's registered address, in the caller's transaction."""
    settings = ctx.settings
    text = (
        "Someone (we hope you) asked to sign in to the help desk archive.\n\n"
        f"Open this link to sign in:\n\n{link}\n\n"
        "It works once, for 15 minutes. If you did not ask for it, ignore this mail: "
        "nothing happens without the link.\n"
    )
    mail = OutgoingMail(
        from_=Address(settings.support_name, settings.support_address),
        to=(Address("", email),),
        subject="Your sign-in link",
        text=text,
        message_id=new_message_id(settings.outgoing_domain),
        date=utcnow(),
        auto_submitted="auto-generated",
        loop_marker=ctx.loop_marker,
    )
    row = NewMail(rcpt=email, raw=compose(mail), message_id=mail.message_id, purpose=PURPOSE)
    outbox.queue(session, [row], ctx.blobs, settings.spool_inline_limit)
