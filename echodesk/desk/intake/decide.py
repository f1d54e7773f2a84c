"""The decisions for each message of a batch (DESIGN §2 classification, §3 threading).

Pure logic over the :class:`BatchIndex`: no database, no files. Order:
duplicate → bounce or complaint (matched to the outbox row it is about) / loop (recorded)
→ thread → auto-reply (kept on its ticket, never reopens it) → customer mail
(customer, ticket opened, reopened or followed up, replies that came before
their parent joined in, an acknowledgement for a new ticket if configured).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

from echodesk.config import Settings
from echodesk.desk.agents.decide import AgentDecision, decide_agent_mail
from echodesk.desk.batch import BatchIndex, Plan, TicketState
from echodesk.desk.effects import AppendMessage, Audit, Merge, RuleActions
from echodesk.desk.item import Decision, Item
from echodesk.desk.outbound.acknowledge import ack_or_reason
from echodesk.desk.outbound.bounces import match_bounce, match_complaint
from echodesk.desk.savedreplies import NONE, SavedReplies
from echodesk.desk.threader import Match, ThreadingKeys, find_ticket, subject_tag
from echodesk.desk.tickets.status import (
    FOLLOWUP,
    INITIAL,
    after_customer_reply,
    plan_customer_reply,
    plan_merge,
)
from echodesk.mailbox.classify import Kind, classify
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.spam import spam_reason
from echodesk.rules import EMPTY, Facts, RuleDecision, RulesContext, RuleSet, evaluate

ACTOR = "system:pipeline"


class Decider:
    def __init__(
        self,
        settings: Settings,
        tag_pattern: re.Pattern[str],
        index: BatchIndex,
        now: datetime,
        rules: RuleSet = EMPTY,
        rules_context: RulesContext | None = None,
        replies: SavedReplies = NONE,
    ) -> None:
        self.settings = settings
        self.tag_pattern = tag_pattern
        self.index = index
        self.now = now
        self.rules = rules
        self.rules_context = rules_context or RulesContext()
        self.replies = replies
        self.plan = Plan()
        #: Agents' mail, decided here and carried out once the batch's customer mail is written.
        self.agent_mail: list[tuple[Item, AgentDecision]] = []
        self.own = (settings.support_address.lower(),)

    def decide(self, item: Item) -> Decision:
        """Decide one message: what becomes of it; what it changes goes into the plan."""
        msg = item.msg
        stored_id, duplicate_of = self._stored_id(msg)
        if duplicate_of:
            return Decision(stored_id, "duplicate", "duplicate", duplicate_of)
        self.index.spool_seen.add((msg.message_id, msg.content_hash))
        verdict = item.verdict or classify(msg, self.own)
        kind = verdict.kind.value
        if verdict.kind in (Kind.BOUNCE, Kind.COMPLAINT):
            return self._report(item, stored_id, verdict.kind, verdict.reason)
        if verdict.kind is Kind.LOOP:
            self._audit("mail.loop", "spool", item.row_id, None, {"reason": verdict.reason})
            return Decision(stored_id, kind=kind, reason=verdict.reason)
        sender = msg.from_.key if msg.from_ else ""
        if item.signed or sender in self.index.agents:
            return self._agent_mail(item, stored_id, verdict.kind, verdict.reason)
        spam = spam_reason(msg, self.settings.spam_threshold, self.settings.spam_header)
        if spam and not item.released:
            return self._quarantine(item, stored_id, spam)
        match = find_ticket(self._keys(item, stored_id), self.index)
        if verdict.kind is Kind.AUTO_REPLY:
            if match.ticket_id is None:
                return Decision(stored_id, kind=kind, reason=verdict.reason)
            self._add_message(item, stored_id, match.ticket_id, Kind.AUTO_REPLY, match.reason)
            return Decision(
                stored_id, kind=kind, reason=verdict.reason, ticket=match.ticket_id, appended=True
            )
        return self._customer_mail(item, stored_id, match)

    def _report(self, item: Item, stored_id: str, kind: Kind, why: str) -> Decision:
        """Match a bounce or complaint to what Echo sent; one about other mail is only
        recorded, so nobody can silence a customer with a report about mail Echo never sent."""
        if kind is Kind.COMPLAINT:
            matched, unmatched = match_complaint(item, self.index), "mail.complaint.unmatched"
        else:
            matched, unmatched = match_bounce(item, self.index), "mail.bounce.unmatched"
        reason = f"{why}; {matched.reason}"
        if matched.event is None:
            self._audit(unmatched, "spool", item.row_id, None, {"reason": reason})
            return Decision(stored_id, kind=kind.value, reason=reason)
        self.plan.bounces.append(matched.event)
        return Decision(stored_id, kind=kind.value, reason=reason, ticket=matched.event.ticket)

    def _agent_mail(self, item: Item, stored_id: str, kind: Kind, why: str) -> Decision:
        """Mail from an agent, or answering an agent's notification: decided from the index,
        carried out once the batch's customer mail is written.

        An auto-reply (an agent's out-of-office answering a notification) is never
        an agent's reply: it is recorded and nothing is done.
        """
        if kind is Kind.AUTO_REPLY:
            reason = f"{why} (answering an agent's notification)"
            self._audit("mail.auto-reply", "spool", item.row_id, None, {"reason": reason})
            return Decision(stored_id, kind=kind.value, reason=reason)
        self.agent_mail.append(
            (item, decide_agent_mail(item, self.index, self.settings, self.replies, self.now))
        )
        return Decision(stored_id, kind="agent")

    def _keys(self, item: Item, stored_id: str) -> ThreadingKeys:
        msg = item.msg
        return ThreadingKeys(
            message_id=stored_id,
            in_reply_to=msg.in_reply_to,
            references=msg.references,
            subject_tag=subject_tag(msg.subject, self.tag_pattern),
            sender=msg.from_.key if msg.from_ else "",
            reply_ticket=item.reply_ticket,
            unverified=item.sender is not None and item.sender.unverified,
        )

    def _stored_id(self, msg: ParsedMessage) -> tuple[str, str]:
        """The id to store the message under, and a reason if it is a duplicate.

        Same Message-ID and content: a redelivery. Same Message-ID, other
        content (some mailers reuse ids): another message, stored under a
        derived id so neither is lost.
        """
        if (msg.message_id, msg.content_hash) in self.index.spool_seen:
            return msg.message_id, "same Message-ID and content as an earlier delivery"
        known = self.index.messages.get(msg.message_id)
        if known is None:
            return msg.message_id, ""
        _, content_hash, direction = known
        if content_hash == msg.content_hash or direction != "inbound":
            return msg.message_id, "already stored"
        derived = f"{msg.message_id}#{msg.content_hash[:16]}"
        if derived in self.index.messages:
            return derived, "already stored under a derived Message-ID"
        return derived, ""

    def _quarantine(self, item: Item, stored_id: str, why: str) -> Decision:
        """Keep the message in the spool, out of every ticket, until an operator decides."""
        self._audit("mail.quarantine", "spool", item.row_id, None, {"reason": why})
        return Decision(stored_id, "quarantined", "customer", why)

    def _flooding(self, item: Item, email: str | None) -> str:
        """Why a new ticket from this address would be one too many ("" if it is not).

        Counted in the mail's own time, so a replayed history is a flood only
        where it was one when it was written.
        """
        limit = self.settings.flood_limit
        if not email or limit <= 0:
            return ""
        opened = self.index.opened_in_day_before(email, item.time)
        if opened < limit:
            return ""
        return f"flood: {email} already opened {opened} tickets in 24 hours (limit {limit})"

    def _customer_mail(self, item: Item, stored_id: str, match: Match) -> Decision:
        msg = item.msg
        sender = msg.from_
        email = sender.key if sender else None
        if match.ticket_id is None and not item.released and (flood := self._flooding(item, email)):
            return self._quarantine(item, stored_id, flood)
        ruled = self._rules(item, match, email)
        if ruled is not None and not item.released:
            held = self._held_by_rule(item, stored_id, ruled)
            if held is not None:
                return held
        if sender is not None:
            seen = item.time
            name, first = self.plan.customers.get(sender.key, (sender.name, seen))
            self.plan.customers[sender.key] = (name or sender.name, min(first, seen))
        ticket, created, reason = self._target_ticket(item, match, email)
        self._join_early_replies(ticket, stored_id)
        self._add_message(item, stored_id, ticket, Kind.CUSTOMER, reason, email, created=created)
        if created and self.settings.acknowledgement:
            self._acknowledge(item, stored_id, ticket)
        if ruled is not None and ruled.actions:
            self._plan_rule_actions(item, stored_id, ticket, ruled)
        return Decision(
            stored_id, kind="customer", reason=reason, ticket=ticket, created=created, appended=True
        )

    # -- routing rules -----------------------------------------------------------
    def _rules(self, item: Item, match: Match, email: str | None) -> RuleDecision | None:
        """The rules' decision for customer mail (None when there are no rules)."""
        if not self.rules.rules:
            return None
        event = "new_ticket"
        if match.ticket_id is not None:
            ticket = self.index.tickets[match.ticket_id]
            followup = after_customer_reply(ticket.status, self.settings.closed_reply)
            event = "new_ticket" if followup == FOLLOWUP else "customer_reply"
        opened = self.index.opened_in_day_before(email or "", item.time)
        facts = Facts(msg=item.msg, event=event, now=self.now, customer_tickets_24h=opened)
        return evaluate(self.rules, facts, self.rules_context)

    def _held_by_rule(self, item: Item, stored_id: str, ruled: RuleDecision) -> Decision | None:
        """A rule's drop (recorded, never silent) or quarantine; None when no rule held it."""
        if ruled.drop is not None:
            rule, why = ruled.drop.rule, ruled.drop.value
            reason = f"dropped by rule '{rule}'" + (f": {why}" if why else "")
            self._audit("rules.drop", "spool", item.row_id, None, {"rule": rule, "reason": why})
            return Decision(stored_id, "dropped", "customer", reason)
        if ruled.quarantine is not None:
            rule, why = ruled.quarantine.rule, ruled.quarantine.value
            return self._quarantine(item, stored_id, f"rule '{rule}'" + (f": {why}" if why else ""))
        return None

    def _plan_rule_actions(
        self, item: Item, stored_id: str, ticket: int, decision: RuleDecision
    ) -> None:
        """Auto-replies go with the acknowledgements (same loop protections); the rest
        waits for the ticket to exist."""
        rest = []
        for action in decision.actions:
            if action.kind != "auto_reply":
                rest.append(action)
                continue
            planned = ack_or_reason(self.settings, item, stored_id, ticket, self.index, self.plan)
            if isinstance(planned, str):
                payload: dict[str, object] = {"rule": action.rule, "reason": planned}
                self._audit("rules.auto_reply.skipped", "ticket", ticket, ticket, payload)
            else:
                self.plan.acks.append(replace(planned, text=action.value, rule=action.rule))
        if rest:
            self.plan.rule_actions.append(RuleActions(ticket, item, tuple(rest)))

    def _acknowledge(self, item: Item, stored_id: str, ticket: int) -> None:
        planned = ack_or_reason(self.settings, item, stored_id, ticket, self.index, self.plan)
        if isinstance(planned, str):
            self._audit("mail.acknowledge.skipped", "ticket", ticket, ticket, {"reason": planned})
        else:
            self.plan.acks.append(planned)

    def _target_ticket(self, item: Item, match: Match, email: str | None) -> tuple[int, bool, str]:
        if match.ticket_id is None:
            return self._open(item, email, mentioned=match.mentioned), True, match.reason
        ticket = self.index.tickets[match.ticket_id]
        before = ticket.status
        new_status = plan_customer_reply(ticket, self.settings.closed_reply, self.now)
        if new_status == FOLLOWUP:
            key = self._open(item, email, followup_of=ticket)
            return key, True, f"follow-up of closed ticket ({match.reason})"
        if new_status != before:
            self._audit(
                "tickets.reopen",
                "ticket",
                ticket.key,
                ticket.key,
                {"from": before, "to": new_status},
            )
        if match.reason.startswith("parent of") and item.msg.subject:
            ticket.subject = item.msg.subject[:2000]  # the root's subject, not "Re: ..."
            ticket.changes["subject"] = ticket.subject
        return ticket.key, False, match.reason

    def _open(
        self,
        item: Item,
        email: str | None,
        *,
        mentioned: int | None = None,
        followup_of: TicketState | None = None,
    ) -> int:
        if email:
            self.index.opened.setdefault(email, []).append(item.time)
        key = self.index.new_key()
        ticket = TicketState(
            key=key,
            number=None,
            status=INITIAL,
            subject=item.msg.subject[:2000],
            new=True,
            customer_email=email,
            followup_of=followup_of.key if followup_of else None,
            created_at=item.time,
        )
        self.index.tickets[key] = ticket
        self.plan.new_tickets.append(ticket)
        payload: dict[str, object] = {"subject_length": len(ticket.subject)}
        if mentioned is not None:
            payload["mentions"] = self.settings.ticket_label(mentioned)
        if followup_of is not None and followup_of.number is not None:
            payload["followup_of"] = self.settings.ticket_label(followup_of.number)
        self._audit("tickets.create", "ticket", key, key, payload)
        return key

    def _join_early_replies(self, target: int, message_id: str) -> None:
        """Tickets opened by replies that came before this, their parent, join it."""
        for other in self.index.tickets_replying_to(message_id):
            if other == target:
                continue
            source = self.index.tickets[other]
            self.index.participants.setdefault(target, set()).update(
                self.index.participants.get(other, set())
            )
            source.merged_into = target
            source.changes.update(merged_into_id=target)
            plan_merge(source, self.now)
            self.plan.merges.append(Merge(target, other, "replies arrived before their parent"))

    def _add_message(
        self,
        item: Item,
        stored_id: str,
        ticket: int,
        kind: Kind,
        reason: str,
        email: str | None = None,
        *,
        created: bool = False,
    ) -> None:
        msg = item.msg
        planned = AppendMessage(item, stored_id, created, ticket, kind, reason, email)
        self.plan.messages.append(planned)
        self.index.messages[stored_id] = (ticket, msg.content_hash, "inbound")
        for parent in msg.thread_ids:
            self.index.children.setdefault(parent, []).append(ticket)
        state = self.index.tickets[ticket]
        state.changes["updated_at"] = self.now
        if kind is Kind.CUSTOMER:
            unverified = item.sender is not None and item.sender.unverified
            self._add_participants(ticket, msg, email, with_copies=not unverified)
        actor = msg.from_.key if msg.from_ else ACTOR
        self._audit(
            "messages.inbound",
            "message",
            len(self.plan.messages) - 1,
            ticket,
            {
                "kind": kind.value,
                "thread_reason": reason[:200],
                "attachments": len(msg.attachments),
            },
            actor=actor,
        )

    def _add_participants(
        self, ticket: int, msg: ParsedMessage, email: str | None, *, with_copies: bool
    ) -> None:
        """The sender, and (unless the sender is unverified) the people copied."""
        people = self.plan.participants.setdefault(ticket, {})
        known = self.index.participants.setdefault(ticket, set())
        if email:
            people.setdefault(email, "customer")
            known.add(email)
        if not with_copies:
            return
        domains = set(self.settings.served_domains)
        for address in (*msg.cc, *msg.to):
            key = address.key
            if key and key not in self.own and address.domain not in domains:
                people.setdefault(key, "cc")
                known.add(key)

    def _audit(
        self,
        action: str,
        target_type: str,
        target: int,
        ticket: int | None,
        payload: dict[str, object],
        actor: str = ACTOR,
    ) -> None:
        self.plan.audit.append(Audit(actor, action, target_type, ticket, dict(payload), target))
