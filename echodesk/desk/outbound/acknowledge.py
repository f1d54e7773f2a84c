"""The acknowledgement: "we got your message, it is ticket TKT-0042".

Optional (setting ``acknowledgement``). It is the one mail Echo sends on its
own in answer to a customer, so it carries every loop protection of RFC 3834:
``Auto-Submitted: auto-replied``; never in answer to auto-submitted mail,
bounces or mail from Echo itself (those never open a ticket), nor to
mailing-list mail, nor to an agent; and at most ``acknowledgement_limit``
times in 24 hours to one address, so an auto-responder that answers
everything (and so opens a new ticket each time) stops after a few rounds.
Skipped acknowledgements say why, in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from string import Template
from typing import Any

from sqlalchemy.orm import Session

from echodesk.config import Settings
from echodesk.desk import audit
from echodesk.desk.batch import BatchIndex, Plan
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import Acknowledge
from echodesk.desk.item import Item
from echodesk.desk.outbound.queue import Conversation, message_row, outgoing, queue
from echodesk.mailbox.message import Address
from echodesk.store import messages

ACTOR = "system:pipeline"
PURPOSE = "ack"
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")


def ack_or_reason(
    settings: Settings, item: Item, stored_id: str, ticket: int, index: BatchIndex, plan: Plan
) -> Acknowledge | str:
    """The acknowledgement to plan for a new ticket, or why there is none."""
    msg = item.msg
    sender = msg.from_
    if sender is None or "@" not in sender.key:
        return "no sender address"
    listed = next((h for h in _LIST_HEADERS if msg.header(h)), None)
    if listed:
        return f"mailing-list mail ({listed})"
    if sender.key in index.agents:
        return "sent by an agent"
    if sender.domain in settings.served_domains:
        return "sent from a domain Echo serves"
    if item.sender is not None and item.sender.unverified:
        # The From is most likely forged: answering it would mail a stranger.
        return f"unverified sender ({item.sender.summary.text()})"
    planned = sum(1 for a in plan.acks if a.rcpt == sender.key)
    if index.ack_counts.get(sender.key, 0) + planned >= settings.acknowledgement_limit:
        return "rate-limited"
    return Acknowledge(ticket, item, stored_id, rcpt=sender.key, name=sender.name)


def _text(template: str, label: str, subject: str, name: str) -> str:
    values = {"ticket": label, "subject": subject, "name": name or "there"}
    return Template(template).safe_substitute(values)


def apply_acks(
    session: Session,
    ctx: DeskContext,
    acks: list[Acknowledge],
    ids: dict[int, int],
    index: BatchIndex,
    now: datetime,
) -> list[dict[str, Any]]:
    """Queue each planned acknowledgement (message row + outbox row); their audit rows."""
    rows = []
    for ack in acks:
        state = index.tickets[ack.ticket]
        assert state.number is not None
        label = ctx.settings.ticket_label(state.number)
        conv = Conversation(
            ticket_id=ids[ack.ticket],
            number=state.number,
            subject=state.subject,
            customer=Address(ack.name, ack.rcpt),
            cc=(),
            thread=(ack.stored_id,),
            last_inbound=ack.stored_id,
        )
        template = ack.text or ctx.settings.acknowledgement
        text = _text(template, label, state.subject, ack.name)
        mail = outgoing(ctx, conv, text, now=now, auto_submitted="auto-replied", with_cc=False)
        message = message_row(mail, conv.ticket_id, kind=PURPOSE, agent_id=None, now=now)
        messages.add(session, message)
        queued = queue(
            session, ctx, mail, purpose=PURPOSE, ticket_id=conv.ticket_id, message_pk=message.id
        )
        payload = {
            "outbox": list(queued.ids),
            "suppressed": len(queued.suppressed),
            **({"rule": ack.rule} if ack.rule else {}),
        }
        action = "rules.auto_reply" if ack.rule else "mail.acknowledge"
        target = ("ticket", state.number)
        rows.append(
            audit.row(ACTOR, action, payload, target=target, ticket_id=conv.ticket_id, at=now)
        )
    return rows
