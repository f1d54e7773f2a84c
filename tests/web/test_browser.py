"""The archive in a real browser: Debian's Chromium, headless, driven by Playwright.

The list and a ticket with a long HTML conversation are opened at a phone's
390x844 and a laptop's 1280x800: no console errors (a CSP violation counts),
no horizontal scrolling on the phone, htmx swapping the results. Screenshots
go to ``test-artifacts/`` (not committed) for a person to look at.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from echodesk.store import agents, signin
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.webapp import desk_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("ECHODESK_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
VIEWPORTS = {"phone": (390, 844), "laptop": (1280, 800)}


def _html_mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <c{n}@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Re: Printer on fire" if n else "Printer on fire"
    msg["Message-ID"] = f"<h{n}@customer.test>"
    if n:
        msg["In-Reply-To"] = f"<h{n - 1}@customer.test>"
    msg["Date"] = f"Mon, 02 Nov 2026 {9 + n // 6:02d}:{(n * 7) % 60:02d}:00 +0000"
    msg.set_content(f"Update {n}: the printer is still on fire.\n")
    wide = (
        "<table width='1400'><tr>"
        + "".join(f"<td>cell {i}</td>" for i in range(30))
        + "</tr></table>"
    )
    msg.add_alternative(
        f"<div><p>Update <b>{n}</b>: the printer is still on fire. "
        f"{'averyveryverylongwordwithoutanyspaces' * 8}</p>{wide}"
        "<img src='https://tracker.example/p.gif'><blockquote>older text</blockquote></div>",
        subtype="html",
    )
    return msg.as_bytes()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str]]:
    desk = Desk(f"sqlite:///{tmp_path / 'echo.db'}", tmp_path / "data", flood_limit=0)
    desk.add_agent("bob@desk.test", "Bob Agent")
    for n in range(14):
        desk.deliver(_html_mail(n))
    for n in range(40):
        desk.deliver(
            make_mail(
                message_id=f"x{n}@other.test",
                sender=f"Person {n} <p{n}@other.test>",
                subject=f"Question number {n} about an order that did not arrive",
            )
        )
    desk.note(1, "Long internal note. " * 30)
    port = free_port()
    server = make_server("127.0.0.1", port, desk_app(desk), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with desk.db.transaction() as session:
        agent = agents.by_email(session, "bob@desk.test")
        assert agent is not None
        token = signin.create(session, agent.id)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.shutdown()
        desk.close()


def test_list_and_ticket_at_phone_and_laptop_sizes(site: tuple[str, str]) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (scripts/test installs it)"
    from playwright.sync_api import sync_playwright

    base, token = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context()
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/signin/{token}")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            for name, (width, height) in VIEWPORTS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{base}/")
                _no_sideways_scroll(page, name, width, problems)
                page.screenshot(path=str(ARTIFACTS / f"list-{name}.png"), full_page=True)
                page.goto(f"{base}/ticket/1")
                for summary in page.locator("details.html summary").all()[:3]:
                    summary.click()
                page.wait_for_timeout(300)
                _no_sideways_scroll(page, name, width, problems)
                page.screenshot(path=str(ARTIFACTS / f"ticket-{name}.png"), full_page=True)
            page.goto(f"{base}/")
            page.click("a.tab:has-text('Open')")
            page.wait_for_url("**/?status=open**")
            assert page.locator("#results .ticket").count() == 25
            page.click("nav.pager a:has-text('Older')")
            page.wait_for_url("**page=2**")
            assert page.locator("#results .ticket").count() == 41 - 25  # 41 open tickets
        finally:
            browser.close()
    assert problems == []


def _no_sideways_scroll(page: object, name: str, width: int, problems: list[str]) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    if name == "phone" and scroll > width:
        problems.append(f"{page.url}: {scroll} px wide at {width} px")  # type: ignore[attr-defined]
