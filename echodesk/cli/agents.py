"""``echodesk agents``: who works the desk."""

from __future__ import annotations

from typing import Any

import click

from echodesk.cli import views
from echodesk.cli.app import App, emit_rows, friendly_errors, list_alone, main, pass_app
from echodesk.desk.agents.catchup import catch_up as notify_waiting
from echodesk.store import agents as agent_store
from echodesk.store.readmodels import iso
from echodesk.store.types import utcnow


@main.group("agents", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def agents_cmd(click_ctx: click.Context, as_json: bool) -> None:
    """List agents; 'agents add' and 'agents disable' change them."""
    list_alone(click_ctx, _list, as_json)


def _list(app: App, as_json: bool) -> None:
    with app.database().reading() as session:
        found = agent_store.every(session)
        aliases = agent_store.aliases_of(session, [a.id for a in found])
        rows: list[dict[str, Any]] = [
            {
                "email": a.email,
                "name": a.name,
                "role": a.role,
                "active": a.active,
                "aliases": aliases[a.id],
                "created_at": iso(a.created_at),
            }
            for a in found
        ]
    empty = "no agents yet: 'echodesk agents add EMAIL --name NAME' adds one"
    emit_rows(rows, as_json, views.agent_lines, empty)


@agents_cmd.command("add")
@click.argument("email")
@click.option("--name", default="", help="The agent's name, as customers see it.")
@click.option("--role", type=click.Choice(agent_store.ROLES), default="ops")
@click.option("--alias", "aliases", multiple=True, metavar="EMAIL", help="Another address.")
@click.option(
    "--catch-up",
    is_flag=True,
    help="Then notify of the unresolved tickets no agent was ever told of.",
)
@pass_app
@friendly_errors
def agents_add(
    app: App, email: str, name: str, role: str, aliases: tuple[str, ...], catch_up: bool
) -> None:
    """Add an agent (or update and re-enable one), with any further sending addresses."""
    with app.database().transaction() as session:
        agent, created = agent_store.add(session, email, name, role)
        for alias in aliases:
            agent_store.add_alias(session, agent.email, alias)
        click.echo(f"{'added' if created else 'updated'} agent {agent.email} ({agent.role})")
        if catch_up:
            numbers = notify_waiting(session, app.ctx, utcnow())
            labels = "".join(f"\n  {app.settings.ticket_label(n)}" for n in numbers)
            click.echo(f"notified of {len(numbers)} ticket(s) no one was told of{labels}")


@agents_cmd.command("alias")
@click.argument("email")
@click.argument("alias")
@pass_app
@friendly_errors
def agents_alias(app: App, email: str, alias: str) -> None:
    """Let an agent also act from another address of theirs."""
    with app.database().transaction() as session:
        agent = agent_store.add_alias(session, email, alias)
        click.echo(f"{alias.strip().lower()} now counts as agent {agent.email}")


@agents_cmd.command("disable")
@click.argument("email")
@pass_app
@friendly_errors
def agents_disable(app: App, email: str) -> None:
    """Disable an agent: their mail is no longer trusted, their history stays."""
    with app.database().transaction() as session:
        agent = agent_store.disable(session, email)
        click.echo(f"disabled agent {agent.email}")
