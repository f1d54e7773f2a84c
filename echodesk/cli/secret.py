"""``echodesk secret``: the installation's signing secret, kept in the database."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import click

from echodesk.cli.app import App, emit_json, friendly_errors, main, pass_app
from echodesk.desk.tokens import Addresses, keyring_for
from echodesk.errors import ConfigError
from echodesk.store import secrets as secret_store
from echodesk.store.readmodels import iso
from echodesk.store.types import utcnow


@main.group("secret")
def secret_cmd() -> None:
    """The secret that signs reply addresses, bounce addresses and web sessions."""


def _stored(app: App) -> list[secret_store.StoredSecret]:
    if app.settings.secret:
        raise ConfigError(
            "the secret comes from the settings (setting 'secret'): change it there; "
            "the database's secrets are not used"
        )
    return keyring_for(app.settings, app.database()).generations()


def _describe(rows: list[secret_store.StoredSecret], grace: timedelta) -> list[dict[str, Any]]:
    now = utcnow()
    current = secret_store.current_index(rows, now)
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        until = rows[i + 1].signs_from + grace if i + 1 < len(rows) else None
        if i == current:
            state = "signing"
        elif i > current:
            state = "next"
        else:
            state = "verifying" if until is not None and now < until else "retired"
        out.append(
            {
                "generation": row.generation,
                "state": state,
                "created_at": iso(row.created_at),
                "signs_from": iso(row.signs_from),
                "verifies_until": iso(until),
            }
        )
    return out


def _print(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        until = f", verifies until {r['verifies_until']}" if r["verifies_until"] else ""
        since = f"signs from {r['signs_from']}"
        click.echo(f"generation {r['generation']}: {r['state']}, {since}{until}")


@secret_cmd.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def secret_list(app: App, as_json: bool) -> None:
    """Each generation of the secret: signing, next, verifying (until when) or retired."""
    rows = _describe(_stored(app), timedelta(days=app.settings.secret_grace_days))
    if as_json:
        emit_json(rows)
    else:
        _print(rows)


@secret_cmd.command("rotate")
@click.option(
    "--switch-after",
    type=click.FloatRange(min=0),
    default=secret_store.SWITCH_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="When the new secret starts signing (every running process reads it before).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
@friendly_errors
def secret_rotate(app: App, switch_after: float, as_json: bool) -> None:
    """Add a new secret; the old one keeps verifying for secret_grace_days after the switch."""
    _stored(app)  # the first generation exists (or is adopted) before the next one
    signs_from = utcnow() + timedelta(seconds=switch_after)
    made = secret_store.rotate(app.database(), secret_store.new_secret(), signs_from)
    rows = _describe(_stored(app), timedelta(days=app.settings.secret_grace_days))
    if as_json:
        emit_json(rows)
        return
    click.echo(
        f"generation {made.generation} signs from {iso(made.signs_from)}; running processes "
        f"read it within {secret_store.REFRESH_SECONDS:.0f} seconds"
    )
    _print(rows)


@secret_cmd.command("check")
@click.argument("address")
@pass_app
@friendly_errors
def secret_check(app: App, address: str) -> None:
    """What a signed address (or notification Message-ID) names, if a secret in use signed it."""
    own = Addresses.for_settings(app.settings, keyring_for(app.settings, app.database()))
    found: list[str] = []
    if (ticket := own.ticket_of(address)) is not None:
        found.append(f"ticket reply address of ticket id {ticket}")
    for kind, named in (
        ("agent reply address", own.agent_of_address(address)),
        ("notification Message-ID", own.agent_of_message_id(address)),
    ):
        if named is not None:
            found.append(f"{kind} of ticket id {named[0]} for agent id {named[1]}")
    if (outbox := own.outbox_of(address)) is not None:
        found.append(f"bounce address of outbox row {outbox}")
    if not found:
        click.echo(f"{address}: not signed by a secret in use (unknown, altered or retired)")
        sys.exit(1)
    click.echo(f"{address}: {found[0]}")
