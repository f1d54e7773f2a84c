"""What an agent's mail asks for, decided from the batch index alone: nothing is written.

A message is an agent's only if (1) its From (or an alias) is an active agent,
(2) it carries a signature Echo made for that agent (the notification's
Reply-To address, or its Message-ID in In-Reply-To/References), and (3) no
Authentication-Results header says its From domain failed DKIM, SPF or DMARC.
Anything else that looks like an agent's reply is :class:`Rejected`.

A verified reply becomes :class:`Commands`: its command lines checked, and
the text left for the customer (:mod:`echodesk.desk.agents.plan`). Unsigned
new mail from an agent that starts with ``#new`` or ``#forward`` becomes
:class:`Opening`. :mod:`echodesk.desk.agents.mail` carries the decision out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from echodesk.config import Settings
from echodesk.desk.agents.plan import IndexResolver, ReplyPlan, check_lines, plan
from echodesk.desk.batch import BatchIndex
from echodesk.desk.commands.parse import CommandLine, find_commands
from echodesk.desk.commands.registry import Change
from echodesk.desk.item import Item
from echodesk.desk.savedreplies import NONE, SavedReplies
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.trust import SenderCheck, agent_refusal, check_sender, failures
from echodesk.store.lookups import AgentRow

#: The first command lines that open a ticket from an agent's new (unsigned) mail.
OPENERS = ("new", "forward", "fwd")


@dataclass(frozen=True)
class Verification:
    agent: AgentRow | None  # the agent who may act, when verified
    ticket_id: int | None
    reason: str  # why it was not verified ("" when it was)
    tell: AgentRow | None  # whom to tell when it was not
    #: From an active agent, unsigned, and not failing authentication: new mail
    #: (``#new`` / ``#forward``) rather than a reply.
    unsigned: bool = False


@dataclass(frozen=True)
class Rejected:
    """Looks like an agent's mail and may not act: recorded, and ``tell`` is told why."""

    reason: str
    tell: AgentRow | None
    #: Nothing to record or tell (the ticket it answers is gone).
    quiet: bool = False


@dataclass(frozen=True)
class Opening:
    """An agent's ``#new`` / ``#forward``: the first line, the rest checked."""

    agent: AgentRow
    sender: SenderCheck
    first: CommandLine
    changes: tuple[tuple[CommandLine, Change], ...]
    errors: tuple[tuple[CommandLine | None, str], ...]


@dataclass(frozen=True)
class Commands:
    """A verified reply about a ticket (by its key in the batch): carried out only
    if its plan has no errors."""

    agent: AgentRow
    ticket: int
    plan: ReplyPlan
    #: The last customer-visible message the answered notification showed (collision guard).
    seen: int | None = None


AgentDecision = Rejected | Opening | Commands


def verify(
    msg: ParsedMessage,
    signed: tuple[tuple[int, int], ...],
    agents: dict[str, AgentRow],
    sender: SenderCheck,
    settings: Settings,
) -> Verification:
    """Decide whether a message is the verified reply of an agent, and about which ticket.

    Who sent it is :mod:`echodesk.mailbox.trust`'s question: a failure refuses
    everything; a signed reply also needs the sender verified (``agent_auth``).
    """
    key = msg.from_.key if msg.from_ else ""
    agent = agents.get(key)
    by_id = {a.id: a for a in agents.values()}
    signer = next((by_id[a] for _, a in signed if a in by_id), None)
    tell = agent or signer
    failed = failures(sender)
    if failed:
        return Verification(None, None, f"the sender's domain failed {', '.join(failed)}", tell)
    if agent is None:
        return Verification(None, None, "the sender is not an active agent", signer)
    mine = [t for t, a in signed if a == agent.id]
    if mine:
        refusal = agent_refusal(sender, settings)
        if refusal:
            return Verification(None, None, refusal, agent)
        return Verification(agent, mine[0], "", None)
    if signed:
        return Verification(None, None, "it answers a notification sent to another agent", agent)
    return Verification(
        None,
        None,
        "it carries no signature: reply to one of Echo's notifications "
        "(or start a new message with #new or #forward)",
        agent,
        unsigned=True,
    )


def opens_ticket(msg: ParsedMessage) -> bool:
    """Whether the first command line is ``#new`` or ``#forward``."""
    found = find_commands(msg.text)
    return bool(found.commands) and found.commands[0].verb in OPENERS


def decide_agent_mail(
    item: Item,
    index: BatchIndex,
    settings: Settings,
    replies: SavedReplies = NONE,
    now: datetime | None = None,
) -> AgentDecision:
    """What an agent-looking message asks for; a note it keeps joins the index."""
    msg = item.msg
    sender = item.sender or check_sender(msg, settings)
    verdict = verify(msg, item.signed, index.agent_rows, sender, settings)
    if verdict.unsigned and verdict.tell is not None and opens_ticket(msg):
        first, *rest = find_commands(msg.text).commands
        resolver = IndexResolver(index, settings, verdict.tell, 0, replies, now)
        changes, errors = check_lines(tuple(rest), resolver)
        errors += [
            (line, "#reply works in a reply to a notification: open the ticket first")
            for line, change in changes
            if change.kind == "reply"
        ]
        return Opening(verdict.tell, sender, first, tuple(changes), tuple(errors))
    if verdict.agent is None or verdict.ticket_id is None:
        return Rejected(verdict.reason, verdict.tell)
    if verdict.ticket_id not in index.tickets:
        return Rejected("the ticket no longer exists", None, quiet=True)
    ticket = index.live(verdict.ticket_id)
    notes = index.notes.setdefault(ticket, [])
    resolver = IndexResolver(index, settings, verdict.agent, ticket, replies, now)
    planned = plan(msg, resolver, notes)
    if not planned.errors and planned.has("note") and planned.text:
        notes.append(planned.text)
    return Commands(verdict.agent, ticket, planned, item.seen)
