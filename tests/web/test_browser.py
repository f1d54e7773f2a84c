"""The archive in a real browser: Debian's Chromium, headless, driven by Playwright.

Every page in :data:`PAGES` is opened at a phone's 390x844 and a laptop's
1280x800, with the archive's own Content-Security-Policy in force: no console
errors (a CSP violation counts), no sideways scrolling, and a full-page
screenshot in ``test-artifacts/`` (not committed) for a person to look at.
Then axe-core (installed from npm by ``scripts/test``, see ``package.json``)
checks each page at both sizes, and in the other colour scheme too when the
style sheet has one: any violation of impact serious or critical fails.
A last test pages and filters the ticket list the way htmx swaps it.

One Chromium is started for the whole module. Outside CI a missing Chromium,
Playwright or axe-core skips these tests; in CI it fails them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from flask import Flask
from sqlalchemy import select, update
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.serving import make_server

from echodesk.desk.outbound.satisfaction import rating_link
from echodesk.store import agents, ratings, signin
from echodesk.store.models import InboundSpool, Ticket
from echodesk.store.types import utcnow
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.postgres import free_port
from tests.support.webapp import desk_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, StorageState
    from playwright.sync_api import Page as BrowserPage

ROOT = Path(__file__).parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
STYLE = ROOT / "echodesk" / "web" / "static" / "echo.css"
ARTIFACTS = Path(os.environ.get("ECHODESK_ARTIFACTS", ROOT / "test-artifacts"))
VIEWPORTS = {"phone": (390, 844), "laptop": (1280, 800)}
#: axe-core impacts that fail the test (minor and moderate ones are not reported).
FAILING_IMPACTS = ("serious", "critical")

REPLIES = """\
refund:
  about: How refunds work
  text: |
    Hello $customer_first_name,

    refunds take 5 days. -- $agent_name
thanks: Thank you for writing to us!
"""


@dataclass(frozen=True)
class Site:
    """The running archive and what the pages' paths are made of."""

    base: str
    app: Flask
    #: Cookies of a signed-in agent (Playwright's storage state).
    agent: StorageState
    html_ticket: int
    customer_id: int
    rating_path: str
    #: A sign-in link's token that is never used (its page only asks to press a button).
    spare_token: str


@dataclass(frozen=True)
class Page:
    """An archive page: where it is, who opens it, what it answers."""

    name: str
    path: Callable[[Site], str]
    signed_in: bool = True
    status: int = 200
    #: Elements to click before the checks (such as a ticket's folded HTML mail).
    opens: str = ""
    #: The route of a page that may not exist yet: skipped until the app has it.
    route: str = ""


PAGES = [
    Page("list", lambda s: "/"),
    Page("search", lambda s: "/?q=printer"),
    Page("ticket", lambda s: f"/ticket/{s.html_ticket}", opens="details.html summary"),
    Page("customer", lambda s: f"/customer/{s.customer_id}"),
    Page("customers", lambda s: "/customers"),
    Page("spool", lambda s: "/spool"),
    Page("agents", lambda s: "/agents"),
    Page("replies", lambda s: "/replies"),
    Page("health", lambda s: "/health"),
    Page("reports", lambda s: "/reports", route="/reports"),
    Page("signin", lambda s: "/signin", signed_in=False),
    Page("signin-link", lambda s: f"/signin/{s.spare_token}", signed_in=False),
    Page("rate", lambda s: s.rating_path, signed_in=False),
    Page("not-found", lambda s: "/ticket/9999", status=404),
]


def _missing(what: str) -> NoReturn:
    """Skip on a person's machine; fail in CI, where every browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}: scripts/test installs it, and CI never skips these tests")
    pytest.skip(f"{what} (scripts/test installs it)")


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


def _fill(desk: Desk) -> None:
    """Tickets (one a long HTML conversation), a note, a rating, spool problems, agents."""
    desk.add_agent("bob@desk.test", "Bob Agent")
    desk.add_agent("eve@desk.test", "Eve Agent")
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
    desk.deliver(make_mail(message_id="spam@junk.test", headers={"X-Spam-Flag": "YES"}))
    stuck = desk.accept(make_mail(message_id="stuck@other.test", subject="Cannot be read"))
    with desk.db.transaction() as session:
        session.execute(
            update(InboundSpool)
            .where(InboundSpool.id == stuck)
            .values(state="failed", attempts=5, last_error="ValueError: a broken MIME part")
        )
        ticket_id = session.scalars(select(Ticket.id).where(Ticket.number == 1)).one()
        ratings.give(session, ticket_id, "okay", "Slow, but it works now.", utcnow(), 14)
        agents.disable(session, "eve@desk.test")


def _has_route(app: Flask, path: str) -> bool:
    adapter = app.url_map.bind("127.0.0.1")
    try:
        adapter.match(path, method="GET")
    except RequestRedirect:
        return True
    except (NotFound, MethodNotAllowed):
        return False
    return True


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for every test of the module."""
    if not Path(CHROMIUM).exists():
        _missing(f"Debian's chromium is not at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed")
    pw = sync_playwright().start()
    try:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    replies = folder / "replies.yaml"
    replies.write_text(REPLIES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    desk = Desk(
        f"sqlite:///{folder / 'echo.db'}",
        folder / "data",
        flood_limit=0,
        replies_file=replies,
        satisfaction=True,
        web_url=base,
    )
    _fill(desk)
    app = desk_app(desk)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with desk.db.transaction() as session:
            bob = agents.by_email(session, "bob@desk.test")
            assert bob is not None
            token, spare = signin.create(session, bob.id), signin.create(session, bob.id)
            ticket = session.scalars(select(Ticket).where(Ticket.number == 1)).one()
            ticket_id, customer_id = ticket.id, ticket.customer_id
        assert customer_id is not None
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{base}/signin/{token}")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            state = context.storage_state()
        finally:
            context.close()
        yield Site(
            base=base,
            app=app,
            agent=state,
            html_ticket=1,
            customer_id=customer_id,
            rating_path=rating_link(desk.ctx, ticket_id, "good").removeprefix(base),
            spare_token=spare,
        )
    finally:
        server.shutdown()
        desk.close()


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """axe-core's browser build, from ``npm ci`` in the repository (never a CDN)."""
    if not AXE.is_file():
        _missing(f"axe-core is not installed at {AXE} (npm ci)")
    return AXE


def _context(browser: Browser, site: Site, page: Page, **options: Any) -> BrowserContext:
    if page.route and not _has_route(site.app, page.route):
        pytest.skip(f"the {page.name} page ({page.route}) is not in the app yet")
    state = site.agent if page.signed_in else None
    return browser.new_context(storage_state=state, **options)


def _open(tab: BrowserPage, site: Site, page: Page) -> str:
    """Go to the page, check its status, unfold what it folds; its URL."""
    url = site.base + page.path(site)
    answer = tab.goto(url)
    assert answer is not None, url
    assert answer.status == page.status, f"{url}: {answer.status}, not {page.status}"
    assert tab.url == url, f"{url} went to {tab.url}"
    if page.opens:
        for summary in tab.locator(page.opens).all()[:3]:
            summary.click()
        tab.wait_for_load_state("networkidle")
    return url


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_at_phone_and_laptop_sizes(browser: Browser, site: Site, page: Page) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    context = _context(browser, site, page, color_scheme="light")
    try:
        tab = context.new_page()
        url = site.base + page.path(site)

        def console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            own = f"the server responded with a status of {page.status}" in message.text
            if page.status >= 400 and own and message.location.get("url") == url:
                return  # Chromium reports the page's own error status
            problems.append(f"{tab.url}: {message.text}")

        tab.on("console", console)
        tab.on("pageerror", lambda error: problems.append(f"{tab.url}: {error}"))
        for size, (width, height) in VIEWPORTS.items():
            tab.set_viewport_size({"width": width, "height": height})
            _open(tab, site, page)
            wide, inner = tab.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            if wide > inner:
                problems.append(f"{url}: {wide} px wide in a {inner} px {size} window")
            tab.screenshot(path=str(ARTIFACTS / f"{page.name}-{size}.png"), full_page=True)
    finally:
        context.close()
    assert problems == []


def _schemes() -> list[str]:
    """The colour schemes to check: the default, and the other when the style sheet has one."""
    found = re.search(r"prefers-color-scheme\s*:", STYLE.read_text(encoding="utf-8"))
    return ["light", "dark"] if found else ["light"]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_has_no_serious_accessibility_problems(
    browser: Browser, site: Site, axe_script: Path, page: Page
) -> None:
    runs = [(size, "light") for size in VIEWPORTS]
    runs += [("laptop", scheme) for scheme in _schemes() if scheme != "light"]
    found: list[str] = []
    for size, scheme in runs:
        width, height = VIEWPORTS[size]
        # axe's script is injected into the page: only this context lets it past the CSP
        # (the test above keeps the policy in force).
        context = _context(
            browser,
            site,
            page,
            bypass_csp=True,
            color_scheme=scheme,
            viewport={"width": width, "height": height},
        )
        try:
            tab = context.new_page()
            url = _open(tab, site, page)
            tab.add_script_tag(path=str(axe_script))
            violations = tab.evaluate(
                """async (impacts) => {
                    const result = await axe.run(document, {resultTypes: ['violations']});
                    return result.violations
                        .filter((v) => impacts.includes(v.impact))
                        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                      targets: v.nodes.map((n) => n.target.join(' '))}));
                }""",
                list(FAILING_IMPACTS),
            )
        finally:
            context.close()
        for v in violations:
            targets = ", ".join(v["targets"])
            found.append(
                f"{url} ({size}, {scheme}): {v['id']} [{v['impact']}] {v['help']}: {targets}"
            )
    assert not found, "axe-core found:\n" + "\n".join(found)


def test_the_list_pages_and_filters_with_htmx(browser: Browser, site: Site) -> None:
    problems: list[str] = []
    context = browser.new_context(storage_state=site.agent)
    try:
        tab = context.new_page()
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.goto(f"{site.base}/")
        tab.click("a.tab:has-text('Open')")
        tab.wait_for_url("**/?status=open**")
        assert tab.locator("#results .ticket").count() == 25
        tab.click("nav.pager a:has-text('Older')")
        tab.wait_for_url("**page=2**")
        assert tab.locator("#results .ticket").count() == 41 - 25  # 41 open tickets
    finally:
        context.close()
    assert problems == []
