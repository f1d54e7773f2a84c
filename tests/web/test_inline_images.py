"""Inline ``cid:`` images in the archive's HTML view: shown from Echo's own copy, nothing remote."""

from __future__ import annotations

import base64
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from echodesk.store import agents, signin
from tests.support.desk import Desk
from tests.support.outlook import TnefFile, make_tnef
from tests.support.postgres import free_port
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 17
CHROMIUM = "/usr/bin/chromium"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def _png(width: int, height: int) -> bytes:
    """A real (grey) PNG of the given size, as a browser can decode it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def client(team: Desk) -> Iterator[FlaskClient]:
    yield desk_app(team).test_client()


def _html_mail(message_id: str, html: str, images: dict[str, tuple[bytes, str]]) -> bytes:
    """An HTML mail with inline images as Outlook and Gmail send them (multipart/related)."""
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = f"Screenshot {message_id}"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content("See the screenshot.")
    msg.add_alternative(html, subtype="html")
    related = msg.get_payload()[1]
    for cid, (data, ctype) in images.items():
        maintype, _, subtype = ctype.partition("/")
        related.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
    return msg.as_bytes()


def _frame(client: FlaskClient, number: int) -> tuple[str, str]:
    """The framed HTML of the ticket's first message: (its body, its CSP)."""
    page = client.get(f"/ticket/{number}").get_data(as_text=True)
    found = re.search(r'<iframe name="frame\d+" src="([^"]+)"', page)
    assert found, page[:2000]
    frame = client.get(found.group(1))
    assert frame.status_code == 200
    return frame.get_data(as_text=True), frame.headers["Content-Security-Policy"]


def _image(body: str, alt: str) -> bytes | None:
    """The bytes the frame shows for the image with that alt text (None: no image there)."""
    found = re.search(rf'<img src="([^"]*)" alt="{alt}"', body)
    if found is None:
        return None
    kind, _, data = found.group(1).partition(";base64,")
    assert kind.startswith("data:image/"), found.group(1)[:80]
    return base64.b64decode(data)


def test_an_inline_image_is_shown_from_echos_own_copy(client: FlaskClient, team: Desk) -> None:
    team.deliver(
        _html_mail(
            "shot-1@customer.test",
            '<p>The error:</p><img src="cid:image001.png@01DA0B1C" alt="error dialog">'
            '<img src="https://tracker.example/pixel.gif" alt="pixel">',
            {"image001.png@01DA0B1C": (PNG, "image/png")},
        )
    )
    sign_in(client, team)
    body, policy = _frame(client, 1)
    assert _image(body, "error dialog") == PNG
    assert 'src="data:image/png;base64,' in body
    assert "cid:" not in body and "tracker.example" not in body  # remote stays blocked
    # Nothing is fetched from anywhere: images only from the page itself.
    assert "img-src data:;" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy


def test_content_ids_match_as_mailers_write_them(client: FlaskClient, team: Desk) -> None:
    """Percent-encoded (RFC 2392) or in another case, the reference still finds its image."""
    team.deliver(
        _html_mail(
            "enc-1@customer.test",
            '<img src="cid:Logo%20Small@Example.COM" alt="encoded">'
            '<img src="CID:logo small@example.com" alt="cased">',
            {"logo small@example.com": (PNG, "image/png")},
        )
    )
    sign_in(client, team)
    body, _ = _frame(client, 1)
    assert _image(body, "encoded") == PNG and _image(body, "cased") == PNG


def test_a_cid_reaches_only_the_images_of_its_own_message(client: FlaskClient, team: Desk) -> None:
    team.deliver(
        _html_mail(
            "a@customer.test", '<img src="cid:logo@a" alt="own">', {"logo@a": (PNG, "image/png")}
        )
    )
    team.deliver(
        _html_mail(
            "b@other.test",
            '<p>Hi</p><img src="cid:logo@a" alt="borrowed"><img src="cid:nothing@b" alt="none">',
            {"own@b": (PNG, "image/png")},
        )
    )
    sign_in(client, team)
    first, _ = _frame(client, 1)
    assert _image(first, "own") == PNG
    second, _ = _frame(client, 2)
    assert 'alt="borrowed"' in second and 'alt="none"' in second  # the text of the alt stays
    assert _image(second, "borrowed") is None and _image(second, "none") is None
    assert "cid:" not in second


def test_an_inline_part_that_is_no_raster_image_is_not_shown(
    client: FlaskClient, team: Desk
) -> None:
    team.deliver(
        _html_mail(
            "svg-1@customer.test",
            '<img src="cid:drawing@x" alt="drawing">',
            {"drawing@x": (SVG, "image/svg+xml")},
        )
    )
    sign_in(client, team)
    body, _ = _frame(client, 1)
    assert _image(body, "drawing") is None
    assert "<svg" not in body and "PHN2Zy" not in body  # neither as markup nor as base64


def test_outlook_inline_images_inside_winmail_dat_are_shown(
    client: FlaskClient, team: Desk
) -> None:
    tnef = make_tnef(
        [TnefFile("image001.png", PNG, "image/png", content_id="image001.png@01DA0B1C")],
        html='<p>Our logo is broken:</p><img src="cid:image001.png@01DA0B1C" alt="logo">',
    )
    msg = EmailMessage()
    msg["From"] = "Dave Outlook <dave@exchange.test>"
    msg["To"] = "support@desk.test"
    msg["Subject"] = "Logo"
    msg["Message-ID"] = "<tnef-1@exchange.test>"
    msg.set_content("")
    msg.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    team.deliver(msg.as_bytes())
    sign_in(client, team)
    ticket = client.get("/ticket/1").get_data(as_text=True)
    assert "Our logo is broken:" in ticket and "winmail.dat" not in ticket
    assert "image001.png" in ticket  # the file is listed, downloadable as before
    body, _ = _frame(client, 1)
    assert _image(body, "logo") == PNG


def test_a_real_browser_shows_the_inline_image_in_the_sandboxed_frame(tmp_path: Path) -> None:
    """Chromium draws the image inside the sandboxed frame, with no policy violation."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (scripts/test installs it)"
    from playwright.sync_api import sync_playwright

    desk = Desk(f"sqlite:///{tmp_path / 'echo.db'}", tmp_path / "data", flood_limit=0)
    desk.add_agent("bob@desk.test", "Bob Agent")
    html = '<p>Error:</p><img src="cid:shot@c" alt="shot">'
    desk.deliver(_html_mail("shot@customer.test", html, {"shot@c": (_png(40, 30), "image/png")}))
    server = make_server("127.0.0.1", free_port(), desk_app(desk), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with desk.db.transaction() as session:
        agent = agents.by_email(session, "bob@desk.test")
        assert agent is not None
        token = signin.create(session, agent.id)
    problems: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.goto(f"{base}/signin/{token}")
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/")
                page.goto(f"{base}/ticket/1")
                page.locator("details.html summary").first.click()
                frame = page.frame_locator("iframe").first
                image = frame.locator("img[alt=shot]")
                image.wait_for()
                width = image.evaluate(
                    "img => img.complete ? img.naturalWidth : new Promise(done => {"
                    " img.onload = img.onerror = () => done(img.naturalWidth) })"
                )
            finally:
                browser.close()
    finally:
        server.shutdown()
        desk.close()
    assert width == 40
    assert problems == []
