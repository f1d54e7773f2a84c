"""What ``echodesk serve`` prints once it listens: where mail goes, and a first mail to send.

Someone who has just started Echo does not know which address it accepts
(the embedded default is ``support@localhost``, not an address at their
domain), so their first mail was refused with 550. The banner names the
addresses the receiver really accepts, where it and the archive listen, and
a command that sends a first test mail with nothing but Python, which any
machine that runs Echo has.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from echodesk.config import Settings
from echodesk.mailbox.smtp import split_host_port

#: Listening on every interface: a client on this machine reaches it on loopback.
_ANY_HOST = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def local_host(host: str) -> str:
    """Where a client on this machine connects to a server listening on ``host``."""
    return _ANY_HOST.get(host, host)


def accepted(settings: Settings) -> str:
    """The recipients the SMTP receiver takes, as a person reads them."""
    local, _, domain = settings.support_address.lower().rpartition("@")
    catch_all = [d.lower() for d in settings.domains]
    also = [] if domain in catch_all else [f"{local}+anything@{domain}"]
    also += [f"anyone@{d}" for d in catch_all]
    also += [f"postmaster@{d}" for d in settings.served_domains if d not in catch_all]
    return f"{settings.support_address.lower()} (also {', '.join(dict.fromkeys(also))})"


def first_mail_command(settings: Settings, smtp_listen: str) -> str:
    """A shell line that sends one mail to the support address through ``smtp_listen``."""
    host, port = split_host_port(smtp_listen)
    to = settings.support_address
    text = f"From: you@example.org\\nTo: {to}\\nSubject: First test\\n\\nHello Echo.\\n"
    code = (
        f'import smtplib; smtplib.SMTP("{local_host(host)}", {port})'
        f'.sendmail("you@example.org", ["{to}"], "{text}")'
    )
    return f"python3 -c {shlex.quote(code)}"


def program(argv0: str) -> str:
    """How to run ``echodesk`` again as it was run now (``.venv/bin/echodesk`` from a checkout)."""
    path = Path(argv0)
    return argv0 if path.name == "echodesk" and path.parent != Path() else "echodesk"


def web_address(settings: Settings, web_listen: str) -> str:
    if settings.web_url:
        return settings.public_web_url + "/"
    host, port = split_host_port(web_listen)
    shown = local_host(host)
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}{settings.web_prefix}"


def banner(settings: Settings, smtp_listen: str, web_listen: str | None, argv0: str) -> str:
    """The lines ``serve`` prints once, when the receiver and the archive listen."""
    lines = [
        "Echo is ready.",
        f"  support address  {accepted(settings)}",
        f"  SMTP             {smtp_listen}",
    ]
    if web_listen:
        lines.append(f"  web archive      {web_address(settings, web_listen)}")
    lines += [
        "Send a first test mail:",
        f"  {first_mail_command(settings, smtp_listen)}",
        f"and see its ticket:  {program(argv0)} tickets",
    ]
    return "\n".join(lines)
