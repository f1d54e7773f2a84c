"""``echodesk connect NAME``: the one-time OAuth2 consent of an ``oauth`` entry, on a terminal.

With a device code where the provider offers one (Microsoft 365): the person
opens the address shown, on any machine, and types the code. Otherwise
(Google; or ``--browser``) the authorization-code flow with PKCE: the
address shown is opened in a browser, and the provider sends the browser
back to a listener on this machine's loopback; when that browser runs
elsewhere, the address it ends on (which fails to load) can be pasted here
instead. The refresh token granted is stored encrypted in the database,
where every process of the installation finds it.
"""

from __future__ import annotations

import queue
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import click

from echodesk.cli.app import App, friendly_errors, main, pass_app
from echodesk.config import OAuthClient
from echodesk.desk.oauth import client_named
from echodesk.desk.tokens import keyring_for
from echodesk.errors import ConfigError
from echodesk.mailbox import oauth
from echodesk.mailbox.oauth import ConsentNeeded, Token
from echodesk.store import oauth as grants

_LANDED_PAGE = (
    b"<!doctype html><meta charset=utf-8><title>Echo</title>"
    b"<p>Echo has the answer. You can close this window and go back to the terminal."
)


@main.command("connect")
@click.argument("name")
@click.option(
    "--browser",
    is_flag=True,
    help="Consent in a browser (code + PKCE) even where a device code is offered.",
)
@click.option("--timeout", default=900, show_default=True, help="Seconds to wait for the consent.")
@pass_app
@friendly_errors
def connect_cmd(app: App, name: str, browser: bool, timeout: int) -> None:
    """Give the oauth entry NAME its consent, and store its tokens (encrypted) for every process."""
    client = client_named(app.settings, name)
    db = app.database()  # a database that cannot keep the grant fails before the person acts
    ends = oauth.endpoints_for(client)
    if ends.device_url and not browser:
        token = _by_device_code(client)
    elif ends.authorize_url:
        token = _by_browser(client, timeout)
    else:
        raise ConfigError(f"oauth '{name}' has neither device_url nor authorize_url to consent at")
    if not token.refresh_token:
        raise ConsentNeeded(
            "the provider granted no refresh token, so the consent would end within the hour: "
            "ask for offline access (Microsoft: the offline_access scope)"
        )
    grants.consented(
        db,
        grants.sealer(keyring_for(app.settings, db).root()),
        name,
        refresh_token=token.refresh_token,
        access_token=token.access_token,
        expires_at=datetime.fromtimestamp(token.expires_at, UTC),
    )
    users = [f"imap account '{a.name}'" for a in app.settings.imap if a.oauth == name]
    if app.settings.relay is not None and app.settings.relay.oauth == name:
        users.append("the relay")
    click.echo(f"connected '{name}'; it signs in {', '.join(users) or 'nothing yet'}")


def _by_device_code(client: OAuthClient) -> Token:
    code = oauth.device_start(client)
    click.echo(code.message)
    click.echo(f"  address: {code.verification_uri}\n  code:    {code.user_code}")
    click.echo("waiting for the consent ...")
    return oauth.device_finish(client, code)


class _Landing(BaseHTTPRequestHandler):
    """The loopback redirect's one page: hand the address over and say so."""

    landed: queue.Queue[str]

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(_LANDED_PAGE)
        if "code=" in self.path or "error=" in self.path:
            self.landed.put(f"http://127.0.0.1{self.path}")  # only its query counts

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _by_browser(client: OAuthClient, timeout: int) -> Token:
    landed: queue.Queue[str] = queue.Queue()
    handler = type("Landing", (_Landing,), {"landed": landed})
    server = HTTPServer(("127.0.0.1", client.redirect_port), handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Thread(target=_pasted, args=(landed,), daemon=True).start()
    try:
        consent = oauth.browser_start(client, f"http://127.0.0.1:{port}/")
        click.echo("Open this address in a browser and consent:")
        click.echo(f"  {consent.url}")
        click.echo(
            "If that browser runs on another machine, paste here the address it ends on "
            "(it fails to load there; the address is what counts)."
        )
        try:
            answer = landed.get(timeout=timeout)
        except queue.Empty:
            raise ConsentNeeded(f"no consent within {timeout} seconds") from None
    finally:
        server.shutdown()
        server.server_close()
    if "error=" in answer and "code=" not in answer:
        raise ConsentNeeded(f"the provider answered: {answer.partition('?')[2][:300]}")
    return oauth.browser_finish(client, consent, answer)


def _pasted(landed: queue.Queue[str]) -> None:
    """Lines typed on the terminal that carry the provider's answer."""
    for line in sys.stdin:
        if "code=" in line or "error=" in line:
            landed.put(line.strip())
            return
