"""``echodesk rules``: check a rules file, and dry-run it against real mail.

``rules check`` validates a file (every problem with file:line:column) and
exits non-zero if there is one. ``rules test MESSAGE.eml`` shows, rule by
rule, whether it matches and why and what it would do; ``rules test
--spool-since 7d`` replays the mail received lately against a candidate file
and reports where its decisions differ from the rules in force. Nothing is
changed by either.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.errors import EchoError, RuleError
from echodesk.mailbox.mailtime import mail_time
from echodesk.mailbox.message import ParsedMessage
from echodesk.mailbox.parse import parse_message
from echodesk.rules import EMPTY, Action, Facts, RuleDecision, RuleSet, evaluate, load_rules
from echodesk.store import lookups
from echodesk.store import spool as spool_store
from echodesk.store.models import InboundSpool
from echodesk.store.types import utcnow

_SINCE_RE = re.compile(r"(\d{1,5})([dhm])")


@main.group("rules")
def rules_cmd() -> None:
    """Routing rules: check a file, dry-run it on a message or on recent mail."""


def _agents(app: App) -> set[str] | None:
    """Active agents' addresses, to check assign actions against (None: no database)."""
    try:
        with app.database().reading() as session:
            return lookups.active_agent_emails(session)
    except EchoError:
        return None


@rules_cmd.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@pass_app
@friendly_errors
def rules_check(app: App, path: Path | None) -> None:
    """Validate a rules file (default: setting rules_file); non-zero exit if it is wrong."""
    target = path or app.settings.rules_file
    try:
        rules = load_rules(target, _agents(app))
    except RuleError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{target}: {len(rules.rules)} rule(s), no problems")


def _describe(action: Action) -> str:
    shown = ", ".join(action.values) if action.values else action.value
    return f"{action.kind} {shown}".strip()


def _as_json(decision: RuleDecision, event: str) -> dict[str, Any]:
    return {
        "event": event,
        "rules": [
            {
                "rule": o.rule,
                "matched": o.matched,
                "why": o.why,
                "actions": [_action_json(a) for a in o.actions],
            }
            for o in decision.outcomes
        ],
        "actions": [_action_json(a) for a in decision.actions],
    }


def _action_json(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind,
        "rule": action.rule,
        "value": action.value,
        "values": list(action.values),
    }


def _event(app: App, msg: ParsedMessage) -> tuple[str, int]:
    """new_ticket or customer_reply (by the ids the archive knows), and the sender's
    tickets in the 24 hours before the message's own time."""
    when = mail_time(msg.date, msg.first_received, None, utcnow())
    try:
        with app.database().reading() as session:
            known = lookups.stored_messages(session, list(msg.thread_ids))
            sender = msg.from_.key if msg.from_ else ""
            opened = lookups.tickets_opened_between(
                session, [sender], when - timedelta(hours=24), when
            )
    except EchoError:
        return "new_ticket", 0
    return ("customer_reply" if known else "new_ticket"), len(opened.get(sender, ()))


def _print(decision: RuleDecision) -> None:
    for outcome in decision.outcomes:
        mark = "MATCH" if outcome.matched else "no   "
        click.echo(f"{mark} {outcome.rule}: {outcome.why}")
        for action in outcome.actions:
            click.echo(f"        would {_describe(action)}")
    if not decision.outcomes:
        click.echo("no rules")
    elif not decision.actions:
        click.echo("no rule matched: the message is handled without rules")


def _load(app: App, path: Path | None) -> RuleSet:
    target = path or app.settings.rules_file
    if not target.exists():
        raise EchoError(f"no rules file at {target}")
    return load_rules(target)


@rules_cmd.command("test")
@click.argument("message", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), help="Rules file to try.")
@click.option(
    "--event",
    type=click.Choice(["new_ticket", "customer_reply"]),
    help="Treat the message as this (default: what the archive says).",
)
@click.option("--spool-since", "since", metavar="7d", help="Replay mail received since then.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def rules_test(
    app: App,
    message: Path | None,
    rules_path: Path | None,
    event: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Dry run: what the rules would do with a message (or with recent mail). Changes nothing."""
    candidate = _load(app, rules_path)
    if since is not None:
        _replay(app, candidate, since, as_json)
        return
    if message is None:
        raise click.UsageError("name a message file, or use --spool-since")
    msg = parse_message(message.read_bytes())
    found_event, opened = _event(app, msg)
    chosen = event or found_event
    facts = Facts(msg=msg, event=chosen, now=utcnow(), customer_tickets_24h=opened)
    decision = evaluate(candidate, facts, app.ctx.rules_context)
    if as_json:
        emit_json(_as_json(decision, chosen))
        return
    click.echo(f"{message}: {chosen}, from {msg.from_.key if msg.from_ else '-'}: {msg.subject}")
    _print(decision)


def _since(text: str) -> datetime:
    match = _SINCE_RE.fullmatch(text.strip())
    if match is None:
        raise EchoError(f"--spool-since {text!r}: give a duration like 7d, 12h or 30m")
    amount, unit = int(match.group(1)), match.group(2)
    hours = {"d": 24.0, "h": 1.0, "m": 1 / 60}[unit]
    return utcnow() - timedelta(hours=amount * hours)


def _replay(app: App, candidate: RuleSet, since: str, as_json: bool) -> None:
    """Each recent customer message, decided by the rules in force and by the candidate."""
    start = _since(since)
    current = app.ctx.rules.current() if app.settings.rules_file.exists() else EMPTY
    changed: list[dict[str, Any]] = []
    total = 0
    with app.database().reading() as session:
        rows = session.scalars(
            select(InboundSpool)
            .where(InboundSpool.received_at >= start, InboundSpool.kind == "customer")
            .order_by(InboundSpool.id)
        ).all()
        for row in rows:
            try:
                msg = parse_message(spool_store.raw_bytes(row, app.ctx.blobs))
            except EchoError:
                continue
            total += 1
            event = (
                "customer_reply"
                if lookups.stored_messages(session, list(msg.thread_ids))
                else "new_ticket"
            )
            facts = Facts(msg=msg, event=event, now=row.received_at)
            before = [_describe(a) for a in evaluate(current, facts, app.ctx.rules_context).actions]
            after = [
                _describe(a) for a in evaluate(candidate, facts, app.ctx.rules_context).actions
            ]
            if before != after:
                changed.append(
                    {
                        "spool_id": row.id,
                        "from": msg.from_.key if msg.from_ else "",
                        "subject": msg.subject,
                        "now": before,
                        "candidate": after,
                    }
                )
    if as_json:
        emit_json({"messages": total, "changed": changed})
        return
    click.echo(
        f"{total} message(s) since {start:%Y-%m-%d %H:%M} UTC; "
        f"{len(changed)} would be handled differently"
    )
    for c in changed:
        click.echo(f"  spool {c['spool_id']}  {c['from']}  {c['subject'][:60]}")
        click.echo(f"      now:       {'; '.join(c['now']) or 'nothing'}")
        click.echo(f"      candidate: {'; '.join(c['candidate']) or 'nothing'}")
