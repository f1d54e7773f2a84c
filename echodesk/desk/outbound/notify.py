"""Notifications: the mail agents work from.

On a new ticket, a customer reply, an assignment, an internal note and a
bounce, the relevant agents get a message: the assignee, or for an
unassigned ticket the agents named in ``notify_unassigned`` (default: every
active agent). Never the agent whose action it was. Each notification is
signed for its ticket and its agent twice over, in its Reply-To
(``support+a-<ticket>-<agent>-<sig>@``) and in its Message-ID, so the
agent's reply proves which ticket it answers and who wrote it. All
notifications of a ticket refer to one stable root id, so the agent's mail
client shows one thread per ticket.

The body starts with a marker line; whatever an agent's mail client quotes
below it (the customer's history, internal notes) is cut before anything of
the reply goes to the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from echodesk.desk.commands.registry import cheat_sheet
from echodesk.desk.context import DeskContext
from echodesk.mailbox.compose import OutgoingMail, compose, new_message_id
from echodesk.mailbox.message import Address
from echodesk.store import agents, customers, messages, outbox, tickets
from echodesk.store.lookups import AgentRow, active_agents
from echodesk.store.outbox import NewMail
from echodesk.store.tickets import Ticket

PURPOSE = "notification"
#: The first line of every notification; an agent's reply is cut at it.
MARKER = "##- Reply above this line to answer the customer -##"

#: The commands' short list, from the registry of verbs.
CHEAT_SHEET = cheat_sheet()


class Notice(StrEnum):
    """What an agent is told about (a ticket's status moves by :class:`status.Event`)."""

    NEW_TICKET = "new ticket"
    CUSTOMER_REPLY = "customer reply"
    ASSIGNED = "assigned"
    NOTE = "internal note"
    BOUNCE = "bounce"
    AGENT_REPLY = "reply to the customer"
    HELD = "reply held"
    WOKE = "snooze over"
    REMINDER = "reminder"
    SLA_WARNING = "SLA warning"
    SLA_BREACH = "SLA breached"

    @property
    def headline(self) -> str:
        """As a notification's first line starts: "Snooze over", "SLA breached"."""
        return self.value[:1].upper() + self.value[1:]


@dataclass(frozen=True)
class _Pending:
    """An event noted for a ticket, waiting for the flush."""

    ticket_id: int
    event: Notice
    message_pk: int | None
    actor: int | None
    detail: str
    #: This agent only (a reminder they set), whoever else follows the ticket.
    to_agent: int | None = None


@dataclass(frozen=True)
class Shown:
    """One message as a notification shows it."""

    who: str
    when: datetime
    direction: str
    kind: str
    text: str
    attachments: tuple[str, ...]
    #: The sender's domain failed DMARC (or DKIM and SPF): the From may be forged.
    unverified: bool = False


UNVERIFIED = (
    "WARNING: unverified sender. Their domain's DKIM/SPF/DMARC checks failed, so this "
    "message may not be from the address it shows."
)


class Notifier:
    """Notifications for one transaction: the active agents are read once."""

    def __init__(self, session: Session, ctx: DeskContext) -> None:
        self.session = session
        self.ctx = ctx
        self._agents: list[AgentRow] | None = None
        self._pending: list[_Pending] = []

    @property
    def agents(self) -> list[AgentRow]:
        if self._agents is None:
            by_id = {a.id: a for a in active_agents(self.session).values()}
            self._agents = sorted(by_id.values(), key=lambda a: a.id)
        return self._agents

    def recipients(self, ticket: Ticket, actor: int | None) -> list[AgentRow]:
        """The assignee, or the agents watching unassigned tickets; never the actor."""
        agents = self.agents
        if ticket.assignee_id is not None:
            chosen = [a for a in agents if a.id == ticket.assignee_id]
        elif self.ctx.settings.notify_unassigned:
            wanted = {e.lower() for e in self.ctx.settings.notify_unassigned}
            chosen = [a for a in agents if a.email in wanted]
        else:
            chosen = list(agents)
        return [a for a in chosen if a.id != actor]

    def notify(
        self,
        ticket_id: int,
        event: Notice,
        message_pk: int | None,
        *,
        now: datetime,
        actor: int | None = None,
        detail: str = "",
        to_agent: int | None = None,
    ) -> None:
        """Note that ``event`` happened; the mail goes out at :meth:`flush`.

        One incoming mail can change a ticket several times (a reply with three
        commands, a rule that assigns a new ticket); each agent gets one
        notification that names every change and shows the state after all.
        """
        del now  # the time of the flush is the notification's
        self._pending.append(_Pending(ticket_id, event, message_pk, actor, detail, to_agent))

    def mark(self) -> int:
        """Where the pending notifications stand (see :meth:`discard_since`)."""
        return len(self._pending)

    def discard_since(self, mark: int) -> None:
        """Forget what was noted after ``mark``: its changes were rolled back."""
        del self._pending[mark:]

    def flush(self, now: datetime) -> list[int]:
        """Queue one notification per agent per ticket for everything noted; outbox ids."""
        pending, self._pending = self._pending, []
        if not pending or not self.agents:
            return []
        self.session.flush()
        by_ticket: dict[int, list[_Pending]] = {}
        for item in pending:
            by_ticket.setdefault(item.ticket_id, []).append(item)
        rows: list[NewMail] = []
        for ticket_id, events in by_ticket.items():
            ticket = tickets.get(self.session, ticket_id, fresh=True)
            if ticket is not None:
                rows += self._rows(ticket, events, now)
        limit = self.ctx.settings.spool_inline_limit
        return outbox.queue(self.session, rows, self.ctx.blobs, limit) if rows else []

    def _rows(self, ticket: Ticket, events: list[_Pending], now: datetime) -> list[NewMail]:
        """One notification per agent, for every event that concerns them."""
        label = self.ctx.settings.ticket_label(ticket.number)
        wanted: dict[int, tuple[AgentRow, list[_Pending]]] = {}
        for event in events:
            chosen = self._chosen(ticket, event)
            for agent in chosen:
                wanted.setdefault(agent.id, (agent, []))[1].append(event)
        rows = []
        seen = messages.newest_visible(self.session, ticket.id)
        for agent, theirs in wanted.values():
            headlines = [
                f"{e.event.headline} on {label}" + (f": {e.detail}" if e.detail else "")
                for e in dict.fromkeys(theirs)
            ]
            pks = [e.message_pk for e in theirs if e.message_pk is not None]
            body = self._body(ticket, headlines, max(pks) if pks else None)
            mail = self._mail(ticket, agent, f"[{label}] {ticket.subject}".strip(), body, now, seen)
            rows.append(
                NewMail(
                    rcpt=agent.email,
                    raw=compose(mail),
                    message_id=mail.message_id,
                    purpose=PURPOSE,
                    ticket_id=ticket.id,
                    message_pk=max(pks) if pks else None,
                )
            )
        return rows

    def _chosen(self, ticket: Ticket, event: _Pending) -> list[AgentRow]:
        """Who hears of one event: the agent it is for, the ticket's followers (a
        colleague's reply), or :meth:`recipients`."""
        if event.to_agent is not None:
            return [a for a in self.agents if a.id == event.to_agent]
        if event.event is Notice.AGENT_REPLY:
            following = tickets.followers(self.session, ticket)
            return [a for a in self.agents if a.id in following and a.id != event.actor]
        return self.recipients(ticket, event.actor)

    def notify_addresses(
        self, ticket_id: int, addresses: Sequence[str], *, now: datetime, why: str
    ) -> list[int]:
        """A copy of the ticket's latest messages for people who are not agents (a rule's
        ``notify``): no signature, no internal notes, replies go to the support address."""
        ticket = tickets.get(self.session, ticket_id)
        if ticket is None or not addresses:
            return []
        settings = self.ctx.settings
        label = settings.ticket_label(ticket.number)
        headline = f"{Notice.NEW_TICKET.headline} on {label}"
        headline += f": {why}" if why else ""
        body = self._body(ticket, [headline], None, internal=False)
        body = body.replace(MARKER + "\n\n", "", 1).split(_rule("Commands"))[0].rstrip() + "\n"
        rows = []
        for address in dict.fromkeys(a.lower() for a in addresses):
            mail = OutgoingMail(
                from_=Address(settings.support_name, settings.support_address),
                to=(Address("", address),),
                subject=f"[{label}] {ticket.subject}".strip(),
                text=body,
                message_id=new_message_id(settings.outgoing_domain),
                date=now,
                auto_submitted="auto-generated",
                loop_marker=self.ctx.loop_marker,
            )
            rows.append(
                NewMail(
                    rcpt=address,
                    raw=compose(mail),
                    message_id=mail.message_id,
                    purpose="rule-notify",
                    ticket_id=ticket.id,
                )
            )
        limit = settings.spool_inline_limit
        return outbox.queue(self.session, rows, self.ctx.blobs, limit)

    def _mail(
        self, ticket: Ticket, agent: AgentRow, subject: str, body: str, now: datetime, seen: int
    ) -> OutgoingMail:
        """One notification, its signature naming the last customer-visible message shown."""
        settings, own = self.ctx.settings, self.ctx.addresses
        root = own.ticket_root_id(ticket.id)
        return OutgoingMail(
            from_=Address(settings.support_name, settings.support_address),
            to=(Address(agent.name, agent.email),),
            reply_to=Address(
                settings.support_name, own.agent_reply_address(ticket.id, agent.id, seen)
            ),
            subject=subject,
            text=body,
            message_id=own.notification_id(ticket.id, agent.id, seen),
            date=now,
            in_reply_to=root,
            references=(root,),
            auto_submitted="auto-generated",
            loop_marker=self.ctx.loop_marker,
        )

    # -- the text --------------------------------------------------------------
    def _body(
        self,
        ticket: Ticket,
        headlines: list[str],
        message_pk: int | None,
        *,
        internal: bool = True,
    ) -> str:
        settings = self.ctx.settings
        label = settings.ticket_label(ticket.number)
        customer = customers.get(self.session, ticket.customer_id)
        assignee = agents.get(self.session, ticket.assignee_id) if ticket.assignee_id else None
        shown = self._messages(ticket.id, message_pk, internal=internal)
        lines = [
            MARKER,
            "",
            *headlines,
            "",
            f"Ticket:   {label}  {ticket.subject}",
            f"Status:   {ticket.status}    Priority: {ticket.priority}",
            f"Assignee: {_person(assignee.name, assignee.email) if assignee else 'nobody'}",
            f"Customer: {_person(customer.display_name, customer.email) if customer else '-'}",
        ]
        for index, item in enumerate(shown):
            heading = "New" if index == 0 and message_pk is not None else "Earlier"
            lines += ["", _rule(f"{heading}: {_describe(item)}")]
            lines += [UNVERIFIED] if item.unverified else []
            lines.append(item.text.strip() or "(empty)")
            if item.attachments:
                lines.append("Attachments: " + ", ".join(item.attachments))
        saved = self.ctx.replies.current().names
        lines += ["", _rule("Commands"), cheat_sheet(saved=saved) if saved else CHEAT_SHEET, ""]
        return "\n".join(lines)

    def _messages(
        self, ticket_id: int, message_pk: int | None, *, internal: bool = True
    ) -> list[Shown]:
        """The new message (if any) and the two before it, newest first."""
        found = messages.latest(self.session, ticket_id, upto=message_pk, internal=internal)
        files = messages.files_of(self.session, [m.id for m in found])
        return [
            Shown(
                who=_person(m.from_name, m.from_email) if m.from_email else m.from_name or "Echo",
                when=m.created_at,
                direction=m.direction,
                kind=m.kind,
                text=m.trimmed_text or m.body_text,
                attachments=tuple(f"{name} ({_size(size)})" for name, size in files.get(m.id, ())),
                unverified=m.sender_auth == "fail",
            )
            for m in found
        ]


def _person(name: str, email: str) -> str:
    return f"{name} <{email}>" if name and name != email else email


def _rule(title: str) -> str:
    return f"---- {title} " + "-" * max(4, 66 - len(title))


def _describe(item: Shown) -> str:
    where = {"inbound": "from", "outbound": "sent by", "internal": "note by"}.get(
        item.direction, "by"
    )
    return f"{item.kind} {where} {item.who}, {item.when:%Y-%m-%d %H:%M} UTC"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB"
    return f"{size / 1024 / 1024:.1f} MB"
