"""What happens to a batch of spooled messages (DESIGN §2 step 2).

``process_batch`` runs inside the worker's transaction and never commits,
retries or catches: it parses every message, fetches what the decisions can
depend on in a few queries, decides each message in spool order
(:mod:`echodesk.desk.intake.decide`), and writes the plan with multi-row statements.
If anything raises, the worker rolls the batch back and processes its rows one
at a time, so a bad message fails alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from echodesk.desk import audit
from echodesk.desk.agents.decide import AgentDecision, Commands
from echodesk.desk.agents.mail import carry_out
from echodesk.desk.agents.plan import Handled
from echodesk.desk.batch import BatchIndex, Plan, TicketState
from echodesk.desk.commands.parse import find_commands
from echodesk.desk.context import DeskContext
from echodesk.desk.effects import AppendMessage, Audit, Merge
from echodesk.desk.files import file_row
from echodesk.desk.intake.decide import ACTOR, Decider
from echodesk.desk.intake.senderchecks import SenderChecks
from echodesk.desk.item import Decision, Item
from echodesk.desk.outbound.acknowledge import apply_acks
from echodesk.desk.outbound.bounces import apply_bounces
from echodesk.desk.outbound.notify import Notice, Notifier
from echodesk.desk.threader import subject_tag
from echodesk.desk.tickets import sla
from echodesk.desk.tickets.apply import new_ticket
from echodesk.desk.tickets.ruleactions import apply_rule_actions
from echodesk.mailbox.bounce import read_bounce
from echodesk.mailbox.classify import Kind, Verdict, classify
from echodesk.mailbox.complaint import read_complaint
from echodesk.mailbox.mailtime import mail_time
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.mailbox.trim import trim_reply
from echodesk.mailbox.trust import check_sender
from echodesk.store import locks, lookups, reminders, spool, writes
from echodesk.store import tickets as ticket_store
from echodesk.store.spool import Claimed
from echodesk.store.tickets import merge_chain
from echodesk.store.types import utcnow


@dataclass(frozen=True)
class Outcome:
    """What became of one spool row (also what ``echodesk ingest --json`` counts)."""

    spool_id: int
    state: str
    kind: str
    message_id: str
    ticket_id: int | None = None
    ticket_number: int | None = None
    created_ticket: bool = False
    appended: bool = False
    reason: str = ""


_ENVELOPE_HEADERS = ("delivered-to", "x-original-to", "envelope-to")


def _addressed_to(row: Claimed, msg: ParsedMessage) -> list[str]:
    """Every address the message was sent to: envelope first, then the headers."""
    found = list(row.rcpt_to)
    found += [a.email for a in (*msg.to, *msg.cc)]
    for name in _ENVELOPE_HEADERS:
        found += [parseaddr(value)[1] for value in msg.headers.get(name, ())]
    return [a for a in dict.fromkeys(a.strip().lower() for a in found) if "@" in a]


def parse_row(row: Claimed, ctx: DeskContext, checks: SenderChecks | None = None) -> Item:
    """Parse, trim and classify one row, and store its attachments' bytes.

    Raises only if its raw bytes cannot be read. The attachment files are
    content-addressed, so writing them before the transaction is harmless if
    it rolls back, and it keeps file I/O out of the database's write lock.
    """
    raw = spool.raw_bytes(row, ctx.blobs)
    item = read_row(row, checks.stamp(raw, row) if checks is not None else raw, ctx)
    store_attachments([item], ctx)
    return item


def store_attachments(items: Sequence[Item], ctx: DeskContext) -> None:
    """The attachments' bytes, kept before the rows are written (see :func:`parse_row`),
    all in one go (one transaction in the database blob store)."""
    values = [part.data for item in items for part in item.msg.attachments]
    if values:
        ctx.blobs.put_many(values, durable=False)  # re-derivable from the raw message


def read_row(row: Claimed, raw: bytes, ctx: DeskContext) -> Item:
    """What deciding reads of one row, from its (stamped) raw bytes alone.

    Pure work: no database, file or network is touched, so it may run in
    another process (:mod:`echodesk.desk.intake.parsepool`). Mail to a signed
    VERP address is a bounce whatever it looks like.
    """
    msg = parse_message(raw)
    sender = f"{msg.from_.name} {msg.from_.email}" if msg.from_ is not None else ""
    own = ctx.addresses
    to = _addressed_to(row, msg)
    reply_ticket = next((t for a in to if (t := own.ticket_of(a)) is not None), None)
    verp = next((o for a in to if (o := own.outbox_of(a)) is not None), None)
    verdict = classify(msg, ctx.own_addresses, ctx.installation_id)
    if verdict.kind is not Kind.BOUNCE and any(own.is_bounce_address(a) for a in to):
        verdict = Verdict(Kind.BOUNCE, "sent to the bounce address")
    report = read_bounce(msg, ctx.own_addresses) if verdict.kind is Kind.BOUNCE else None
    complaint = None
    if verdict.kind is Kind.COMPLAINT:  # the original's envelope sender is our VERP address
        complaint = read_complaint(msg, ctx.own_addresses)
        senders = complaint.original_senders
        verp = next((o for a in senders if (o := own.outbox_of(a)) is not None), None)
    trimmed = trim_reply(msg.text, sender).text
    signed = _signed(to, msg, ctx)
    checked = check_sender(msg, ctx.settings)
    sent_at = mail_time(msg.date, msg.first_received, row.received_at, utcnow())
    return Item(
        row.id,
        msg,
        trimmed,
        verdict,
        reply_ticket,
        verp,
        report,
        signed,
        row.released,
        checked,
        sent_at,
        complaint=complaint,
        seen=_seen(to, msg, ctx) if signed else None,
    )


def _seen(to: list[str], msg: ParsedMessage, ctx: DeskContext) -> int | None:
    """What the answered notification showed last: from its reply address, else its id."""
    own = ctx.addresses
    found = [s for a in to if (s := own.seen_in_address(a)) is not None]
    found += [s for mid in msg.in_reply_to if (s := own.seen_in_message_id(mid)) is not None]
    return found[0] if found else None


def _signed(to: list[str], msg: ParsedMessage, ctx: DeskContext) -> tuple[tuple[int, int], ...]:
    """Valid agent signatures: reply addresses first, then In-Reply-To, then References."""
    own = ctx.addresses
    found = [s for a in to if (s := own.agent_of_address(a)) is not None]
    ids = (*msg.in_reply_to, *reversed(msg.references))
    found += [s for mid in ids if (s := own.agent_of_message_id(mid)) is not None]
    return tuple(dict.fromkeys(found))


def process_batch(session: Session, parsed: Sequence[Item], ctx: DeskContext) -> list[Outcome]:
    """Decide and write every parsed row; rows whose conversation is busy are deferred."""
    items, deferred = _lock_conversations(session, list(parsed))
    now = utcnow()
    index = _index(session, items, ctx, now)
    decider = Decider(
        ctx.settings,
        ctx.tag_pattern,
        index,
        now,
        ctx.rules.current(),
        ctx.rules_context,
        ctx.replies.current(),
    )
    decided = [(item, decider.decide(item)) for item in items]
    tickets, decisions = _apply(session, ctx, decider, decided, now)
    outcomes = [_outcome(i, d, index, tickets) for i, d in zip(items, decisions, strict=True)]
    return outcomes + deferred


def _lock_conversations(session: Session, items: list[Item]) -> tuple[list[Item], list[Outcome]]:
    """Lock every Message-ID involved for this transaction (see :mod:`echodesk.store.locks`).

    A reply and its parent decided at the same instant by two workers would
    each miss the other and open two tickets. The locks are only *tried*:
    waiting could deadlock two workers whose batches overlap, so a message
    whose conversation is busy stays queued for the next round.
    """
    wanted = {item.row_id: sorted({item.msg.message_id, *item.msg.thread_ids}) for item in items}
    held = locks.try_conversation_locks(session, [k for keys in wanted.values() for k in keys])
    if held is None:
        return items, []
    ready: list[Item] = []
    deferred: list[Outcome] = []
    for item in items:
        if all(key in held for key in wanted[item.row_id]):
            ready.append(item)
        else:
            busy = "conversation busy in another worker"
            deferred.append(Outcome(item.row_id, "deferred", "", item.msg.message_id, reason=busy))
    return ready, deferred


def _index(session: Session, items: list[Item], ctx: DeskContext, now: datetime) -> BatchIndex:
    """Fetch, in a few queries, everything the batch's decisions can depend on."""
    own_ids = [i.msg.message_id for i in items]
    derived = [f"{i.msg.message_id}#{i.msg.content_hash[:16]}" for i in items]
    parents = [mid for i in items for mid in i.msg.thread_ids]
    stored = lookups.stored_messages(session, own_ids + derived + parents)
    children = lookups.replies_naming(session, own_ids)
    tags = {n for i in items if (n := subject_tag(i.msg.subject, ctx.tag_pattern)) is not None}
    sent_by_id, sent_by_mid = lookups.outbox_rows(
        session,
        [i.verp_outbox for i in items if i.verp_outbox is not None],
        [i.bounce.original_message_id for i in items if i.bounce is not None]
        + [i.complaint.original_message_id for i in items if i.complaint is not None],
    )
    sent = [*sent_by_id.values(), *(r for rows in sent_by_mid.values() for r in rows)]
    ticket_ids = {m.ticket_id for m in stored.values()} | {t for v in children.values() for t in v}
    ticket_ids |= {i.reply_ticket for i in items if i.reply_ticket is not None}
    ticket_ids |= {r.ticket_id for r in sent if r.ticket_id is not None}
    agents = lookups.active_agents(session)
    signed, named = _agent_mail_refs(items, agents, ctx)
    tickets = lookups.tickets(session, ticket_ids | signed, tags | named)
    return BatchIndex(
        spool_seen=lookups.processed_spool_keys(session, own_ids),
        stored=stored,
        children=children,
        tickets=tickets,
        participants=lookups.participants(session, _tagged(tickets, tags)),
        agents=agents,
        notes=_notes(session, tickets, signed),
        outbox=sent_by_id,
        outbox_by_message=sent_by_mid,
        ack_counts=_ack_counts(session, items, ctx, now),
        opened=_opened(session, items),
    )


def _agent_mail_refs(
    items: list[Item], agents: dict[str, lookups.AgentRow], ctx: DeskContext
) -> tuple[set[int], set[int]]:
    """What agents' mail in the batch names: the tickets its signatures are about, and
    the ticket numbers its command lines name (``#merge TKT-0040``)."""
    signed: set[int] = set()
    named: set[int] = set()
    for item in items:
        if not item.signed and (item.msg.from_ is None or item.msg.from_.key not in agents):
            continue
        signed |= {ticket for ticket, _ in item.signed}
        for line in find_commands(item.msg.text).commands:
            named |= {n for a in line.args if (n := ctx.settings.parse_ticket_label(a)) is not None}
    return signed, named


def _notes(
    session: Session, tickets: dict[int, lookups.TicketRow], signed: set[int]
) -> dict[int, list[str]]:
    """The internal notes of the tickets agents' mail is about, where they live on."""
    if not signed:
        return {}

    def merged_into(tid: int) -> int | None:
        row = tickets.get(tid)
        return row.merged_into_id if row is not None else None

    return lookups.internal_notes(session, {merge_chain(t, merged_into)[-1] for t in signed})


def _tagged(tickets: dict[int, lookups.TicketRow], tags: set[int]) -> list[int]:
    """Tickets a subject tag names, and those they were merged into (whose participants
    a tag from a merged ticket's customer is checked against)."""

    def merged_into(tid: int) -> int | None:
        row = tickets.get(tid)
        return row.merged_into_id if row is not None else None

    chains = [merge_chain(t.id, merged_into) for t in tickets.values() if t.number in tags]
    return [tid for chain in chains for tid in chain if tid in tickets]


def _opened(session: Session, items: list[Item]) -> dict[str, list[datetime]]:
    """When each sender of the batch opened tickets, over the day before its mail's times.

    Counted in the mail's own time, not Echo's: a replayed history is a flood
    only where it was one when it was written. Rules read the count too, so it
    is fetched whether or not the flood limit is on.
    """
    senders = [i.msg.from_.key for i in items if i.msg.from_ is not None]
    if not senders:
        return {}
    times = [i.time for i in items]
    return lookups.tickets_opened_between(
        session, senders, min(times) - timedelta(hours=24), max(times)
    )


def _ack_counts(
    session: Session, items: list[Item], ctx: DeskContext, now: datetime
) -> dict[str, int]:
    if not ctx.settings.acknowledgement:
        return {}
    senders = [i.msg.from_.key for i in items if i.msg.from_ is not None]
    return lookups.recent_outbox_counts(session, senders, "ack", now - timedelta(hours=24))


def _apply(
    session: Session,
    ctx: DeskContext,
    decider: Decider,
    decided: list[tuple[Item, Decision]],
    now: datetime,
) -> tuple[dict[int, int], list[Decision]]:
    """Write what the batch decided: the id of every ticket key (new ones get theirs here),
    and each row's decision as it stands once agents' mail was carried out."""
    plan, index = decider.plan, decider.index
    customer_ids = writes.upsert_customers(session, plan.customers)
    ids = _insert_tickets(session, plan.new_tickets, customer_ids)
    ids.update({key: key for key in index.tickets if key > 0})
    writes.update_tickets(session, _ticket_changes(index, ids))
    message_ids = _insert_messages(session, plan, ids, customer_ids, now)
    notifier = Notifier(session, ctx)
    mail_audit = apply_bounces(session, ctx, plan.bounces, ids, now, notifier)
    mail_audit += apply_acks(session, ctx, plan.acks, ids, index, now)
    mail_audit += apply_rule_actions(session, ctx, plan.rule_actions, ids, index, notifier, now)
    writes.insert_participants(
        session,
        [
            {"ticket_id": ids[key], "email": email, "role": role}
            for key, people in plan.participants.items()
            for email, role in people.items()
        ],
    )
    merge_audit = [_merge(session, index, ids, m) for m in plan.merges]
    writes.insert_audit(
        session,
        [_audit_row(e, ids, index, message_ids) for e in plan.audit] + merge_audit + mail_audit,
    )
    _notify_agents(notifier, plan, index, ids, message_ids, now)
    _wake_on_reply(session, plan, index, ids, now)
    final = {item.row_id: decision for item, decision in decided}
    touched = set(ids.values())
    for item, asked in decider.agent_mail:
        ticket_id = _ticket_id(asked, index, ids)
        handled = _agent_mail(session, ctx, item, asked, ticket_id, notifier, now)
        final[item.row_id] = replace(
            final[item.row_id],
            kind=handled.kind,
            reason=handled.reason,
            ticket_id=handled.ticket_id,
            ticket_number=handled.ticket_number,
        )
        touched.update(t for t in (ticket_id, handled.ticket_id) if t is not None)
    sla.reconcile(session, ctx.settings, touched, now)
    notifier.flush(now)
    done = [(item, final[item.row_id]) for item, _ in decided]
    writes.finish_spool_rows(session, [_spool_row(i, d, index, ids) for i, d in done])
    return ids, [d for _, d in done]


def _ticket_id(decision: AgentDecision, index: BatchIndex, ids: dict[int, int]) -> int | None:
    """The stored id of the ticket an agent's reply is about, where it lives on now."""
    if not isinstance(decision, Commands):
        return None
    return ids.get(index.live(decision.ticket))


def _agent_mail(
    session: Session,
    ctx: DeskContext,
    item: Item,
    decision: AgentDecision,
    ticket_id: int | None,
    notifier: Notifier,
    now: datetime,
) -> Handled:
    handled = carry_out(session, ctx, item.msg, decision, ticket_id, notifier, now)
    session.flush()
    return handled


def _notify_agents(
    notifier: Notifier,
    plan: Plan,
    index: BatchIndex,
    ids: dict[int, int],
    message_ids: list[int],
    now: datetime,
) -> None:
    """Tell the agents about each customer message: a new ticket or a reply."""
    for planned, pk in zip(plan.messages, message_ids, strict=True):
        if planned.kind is not Kind.CUSTOMER:
            continue
        event = Notice.NEW_TICKET if planned.created else Notice.CUSTOMER_REPLY
        notifier.notify(ids[index.live(planned.ticket)], event, pk, now=now)


def _wake_on_reply(
    session: Session, plan: Plan, index: BatchIndex, ids: dict[int, int], now: datetime
) -> None:
    """A customer who writes wakes their snoozed ticket at once (the reply's notification
    tells the agents)."""
    replied = {
        ids[index.live(p.ticket)]
        for p in plan.messages
        if p.kind is Kind.CUSTOMER and not p.created
    }
    woke = reminders.wake(session, sorted(replied))
    audit_rows = [
        audit.on_ticket(ACTOR, "tickets.woke", ticket, {"why": "the customer wrote"}, now)
        for ticket_id in woke
        if (ticket := ticket_store.get(session, ticket_id)) is not None
    ]
    writes.insert_audit(session, audit_rows)


def _ticket_changes(index: BatchIndex, ids: dict[int, int]) -> list[dict[str, Any]]:
    """The changed columns of every ticket the batch touched, keys turned into ids."""
    rows = []
    for ticket in index.tickets.values():
        if ticket.changes:
            row = {"b_id": ids[ticket.key], **ticket.changes}
            if row.get("merged_into_id") is not None:
                row["merged_into_id"] = ids[row["merged_into_id"]]
            rows.append(row)
    return rows


def _insert_tickets(
    session: Session, new: list[TicketState], customer_ids: dict[str, int]
) -> dict[int, int]:
    rows = [
        new_ticket(
            t.subject,
            t.created_at,
            customer_id=customer_ids.get(t.customer_email or ""),
            followup_of=t.followup_of,
        )
        for t in new
    ]
    ids: dict[int, int] = {}
    for ticket, (ticket_id, number) in zip(new, writes.open_tickets(session, rows), strict=True):
        ticket.number = number
        ids[ticket.key] = ticket_id
    return ids


def _insert_messages(
    session: Session,
    plan: Plan,
    ids: dict[int, int],
    customer_ids: dict[str, int],
    now: datetime,
) -> list[int]:
    rows = [_message_row(planned, ids, customer_ids, now) for planned in plan.messages]
    names = [[part.filename for part in planned.item.msg.attachments] for planned in plan.messages]
    message_ids = writes.insert_messages(session, rows, names)
    refs, files = [], []
    for planned, pk in zip(plan.messages, message_ids, strict=True):
        msg = planned.item.msg
        refs += [{"message_pk": pk, "ref_id": ref} for ref in msg.thread_ids]
        files += [file_row(pk, part, part.sha256) for part in msg.attachments]  # see parse_row
    writes.insert_references(session, refs)
    writes.insert_attachments(session, files)
    return message_ids


def _message_row(
    planned: AppendMessage, ids: dict[int, int], customer_ids: dict[str, int], now: datetime
) -> dict[str, Any]:
    msg, item = planned.item.msg, planned.item
    return {
        "ticket_id": ids[planned.ticket],
        "direction": "inbound",
        "kind": planned.kind.value,
        "message_id": planned.stored_id,
        "content_hash": msg.content_hash,
        "in_reply_to": " ".join(msg.in_reply_to),
        "reference_ids": " ".join(msg.references),
        "from_email": msg.from_.key if msg.from_ else "",
        "from_name": msg.from_.name if msg.from_ else "",
        "to_addrs": [str(a) for a in msg.to],
        "cc_addrs": [str(a) for a in msg.cc],
        "subject": msg.subject,
        "body_text": msg.text,
        "body_html": msg.html,
        "trimmed_text": item.trimmed,
        "customer_id": customer_ids.get(planned.customer_email or ""),
        "agent_id": None,
        "spool_id": item.row_id,
        "thread_reason": planned.reason[:1000],
        "defects": list(msg.defects[:50]),
        "sender_auth": item.sender.state if item.sender else "none",
        "auth_results": item.sender.results if item.sender else "",
        "sent_at": item.time,
        "created_at": now,
    }


def _merge(
    session: Session, index: BatchIndex, ids: dict[int, int], merge: Merge
) -> dict[str, Any]:
    """Move a ticket the batch joined to another (both by key): its messages, its people."""
    assert merge.source is not None  # the batch always names the ticket it merges away
    source, target = merge.source, merge.into
    moved = writes.move_messages(session, ids[source], ids[target])
    number = index.tickets[source].number
    payload = {"into": index.tickets[target].number, "messages": moved, "reason": merge.reason}
    into = ids[target]
    return audit.row(ACTOR, "tickets.merge", payload, target=("ticket", number), ticket_id=into)


def _audit_row(
    entry: Audit, ids: dict[int, int], index: BatchIndex, message_ids: list[int]
) -> dict[str, Any]:
    if entry.target_type == "ticket":
        target = str(index.tickets[entry.target].number)
    elif entry.target_type == "message":
        target = str(message_ids[entry.target])
    else:
        target = str(entry.target)
    ticket = ids[entry.ticket] if entry.ticket is not None else None
    where = (entry.target_type, target)
    return audit.row(entry.actor, entry.action, entry.payload, target=where, ticket_id=ticket)


def _spool_row(
    item: Item, decision: Decision, index: BatchIndex, ids: dict[int, int]
) -> dict[str, Any]:
    key = decision.ticket
    ticket = ids[index.live(key)] if key is not None else decision.ticket_id
    return {
        "b_id": item.row_id,
        "state": decision.state,
        "kind": decision.kind,
        "message_id": decision.stored_id,
        "content_hash": item.msg.content_hash,
        "from_header": _from_header(item)[:998],
        "subject": item.msg.subject[:2000],
        "ticket_id": ticket,
        "detail": decision.reason[:4000],
        "processed_at": utcnow(),
    }


def _from_header(item: Item) -> str:
    sender = item.msg.from_
    if sender is None:
        return ""
    return f"{sender.name} <{sender.email}>" if sender.name else sender.email


def _outcome(item: Item, decision: Decision, index: BatchIndex, ids: dict[int, int]) -> Outcome:
    live = index.live(decision.ticket) if decision.ticket is not None else None
    return Outcome(
        spool_id=item.row_id,
        state=decision.state,
        kind=decision.kind,
        message_id=decision.stored_id,
        ticket_id=ids[live] if live is not None else decision.ticket_id,
        ticket_number=index.tickets[live].number if live is not None else decision.ticket_number,
        created_ticket=decision.created,
        appended=decision.appended and not decision.created,
        reason=decision.reason,
    )
