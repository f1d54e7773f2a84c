"""Mail to an agent about their own message: errors, refusals, help.

Always to the agent's registered address (never to an address a message
merely claims), marked auto-replied, and at most a few a day per agent, so a
forger cannot use Echo to flood an agent's mailbox.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from echodesk.desk.agents.plan import ReplyPlan
from echodesk.desk.context import DeskContext
from echodesk.mailbox.compose import OutgoingMail, compose, new_message_id
from echodesk.mailbox.message import Address, ParsedMessage
from echodesk.store import outbox
from echodesk.store.lookups import AgentRow, recent_outbox_counts
from echodesk.store.outbox import NewMail

log = logging.getLogger(__name__)
NOTICE = "agent-notice"
NOTICES_PER_DAY = 20


def error_text(label: str, planned: ReplyPlan) -> str:
    lines = [
        f"Echo did not apply your reply to {label}: nothing was changed and nothing was "
        "sent to the customer.",
        "",
    ]
    for line, why in planned.errors:
        lines += [f"  {line.raw}" if line else "  (your reply)", f"    -> {why}"]
    if planned.changes:
        lines += ["", "These lines were fine and would have been applied:"]
        lines += [f"  {line.raw}  ({change.summary})" for line, change in planned.changes]
    lines += ["", "Fix the lines and reply to the notification again. #help lists the commands."]
    return "\n".join(lines)


def rejected_text(msg: ParsedMessage, reason: str) -> str:
    sender = msg.from_.key if msg.from_ else "an unknown sender"
    return (
        f"Echo received a message from {sender} (subject: {msg.subject[:200]!r}) that looks "
        f"like an agent's reply, and did not act on it: {reason}.\n\n"
        "Nothing was changed and nothing was sent to the customer. If you wrote it, reply "
        "from your registered address to the notification Echo sent you."
    )


def tell(
    session: Session,
    ctx: DeskContext,
    agent: AgentRow,
    msg: ParsedMessage,
    text: str,
    now: datetime,
) -> None:
    """Mail an agent's registered address (a few times a day at most)."""
    since = now - timedelta(hours=24)
    recent = recent_outbox_counts(session, [agent.email], NOTICE, since).get(agent.email, 0)
    if recent >= NOTICES_PER_DAY:
        log.warning("not telling %s again today (%s notices)", agent.email, recent)
        return
    settings = ctx.settings
    subject = msg.subject if msg.subject.lower().startswith("re:") else f"Re: {msg.subject}"
    mail = OutgoingMail(
        from_=Address(settings.support_name, settings.support_address),
        to=(Address(agent.name, agent.email),),
        subject=subject,
        text=text,
        message_id=new_message_id(settings.outgoing_domain),
        date=now,
        in_reply_to=msg.message_id if not msg.message_id_generated else "",
        references=tuple(i for i in (*msg.references[-5:], msg.message_id) if i),
        auto_submitted="auto-replied",
        loop_marker=ctx.loop_marker,
    )
    row = NewMail(rcpt=agent.email, raw=compose(mail), message_id=mail.message_id, purpose=NOTICE)
    outbox.queue(session, [row], ctx.blobs, settings.spool_inline_limit)
