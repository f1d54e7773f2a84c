"""Showing a message's HTML safely: sanitised with nh3, framed, remote images held back.

Mail HTML is hostile by default: scripts, event handlers, forms, tracking
pixels, CSS that paints over the page. It is cleaned with nh3 (a binding of
the ammonia sanitiser: an allow-list of tags, attributes, URL schemes and CSS
properties) and served as its own document, which the ticket page shows in
an ``<iframe sandbox>`` without ``allow-scripts``, under a Content-Security-
Policy that also forbids scripts, so even a sanitiser bug could not run code
in the archive's origin. The sandbox does keep the archive's origin
(``allow-same-origin``), so that the ticket page's own script (``echo.js``)
may read the framed mail's height and fit the frame to it: harmless while
the frame can run nothing (the pair is only dangerous with ``allow-scripts``,
which would let the mail lift its own sandbox). Remote images load only
when the operator asks: until then both the CSP and the sanitiser drop them
(a tracking pixel would tell the sender the mail was read, and from where).

Inline images (``<img src="cid:...">``, the logo in a signature, a pasted
screenshot) are parts of the message itself: they are shown from Echo's own
copy of that message's attachment, written into the page as ``data:`` URLs,
so the frame's policy still allows no image from anywhere else.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from urllib.parse import unquote

import nh3

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ATTRIBUTES = {
    "*": {"style", "align", "dir", "title", "lang"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "th": {"colspan", "rowspan", "width", "valign", "bgcolor"},
    "col": {"span", "width"},
}
_STYLE_PROPERTIES = {
    "background-color",
    "border",
    "border-bottom",
    "border-collapse",
    "border-color",
    "border-left",
    "border-right",
    "border-style",
    "border-top",
    "border-width",
    "color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "height",
    "letter-spacing",
    "line-height",
    "list-style-type",
    "margin",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "margin-top",
    "max-width",
    "padding",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "padding-top",
    "text-align",
    "text-decoration",
    "text-indent",
    "vertical-align",
    "white-space",
    "width",
}
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)


def content_id(url: str) -> str:
    """The Content-ID a ``cid:`` URL names (RFC 2392: percent-encoded, no brackets), lower-cased.

    Content-IDs are compared without case: some mailers change the case of
    the one in the HTML, and two parts of one message never differ by case only.
    """
    return unquote(url.strip()[4:]).strip().strip("<>").strip().lower()


def sanitise(html: str, *, remote_images: bool, inline: Mapping[str, str] | None = None) -> str:
    """The HTML with everything unsafe removed (and remote images, unless allowed).

    ``inline`` maps a Content-ID (as :func:`content_id` gives it) to the
    image Echo keeps for it (see :func:`data_url`); any other ``cid:``
    reference is dropped.
    """
    images = inline or {}

    def attribute(tag: str, name: str, value: str) -> str | None:
        if value.lstrip()[:4].lower() == "cid:":
            return images.get(content_id(value)) if (tag, name) == ("img", "src") else None
        if tag == "img" and name == "src":
            if value.lower().startswith("data:image/") or (remote_images and _REMOTE.match(value)):
                return value
            return None
        return value

    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data", "cid"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties=_STYLE_PROPERTIES,
        attribute_filter=attribute,
        strip_comments=True,
    )


def has_remote_images(html: str) -> bool:
    """Whether the message asks for images from elsewhere (to offer loading them)."""
    return bool(re.search(r"<img[^>]{0,500}src\s*=\s*[\"']?\s*(?:https?:)?//", html, re.I))


def document(html: str, *, remote_images: bool, inline: Mapping[str, str] | None = None) -> str:
    """A whole page for the frame: the cleaned body on the archive's dark background."""
    body = sanitise(html, remote_images=remote_images, inline=inline)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<base target="_blank">'
        "<style>html{color-scheme:dark}body{margin:12px;font:14px/1.5 system-ui,sans-serif;"
        "color:#e6e8eb;background:#171a21;overflow-wrap:anywhere}"
        "a{color:#7aa7ff}img{max-width:100%;height:auto}table{max-width:100%}"
        "blockquote{margin:0 0 0 .8em;padding-left:.8em;border-left:2px solid #3a404c;"
        "color:#aab2bd}</style></head><body>" + body + "</body></html>"
    )


def frame_policy(*, remote_images: bool) -> str:
    """The CSP of the framed document: no scripts, no forms, images only if allowed.

    Its ``sandbox`` matches the frame's attribute: scripts stay off (there is no
    ``script-src``, so ``default-src 'none'`` forbids them too), and the origin
    stays the archive's so the page around it can measure it (see above).
    """
    images = "data: https: http:" if remote_images else "data:"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-popups "
        "allow-popups-to-escape-sandbox allow-same-origin"
    )


#: Image formats shown inline, by their first bytes. Never SVG: it can carry scripts.
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
)


def image_type(data: bytes) -> str | None:
    """The type of a raster image, read from its bytes (the sender's label is not trusted)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _IMAGE_MAGIC if data.startswith(magic)), None)


def data_url(data: bytes) -> str | None:
    """A raster image as a ``data:`` URL for the frame, or None for anything else."""
    kind = image_type(data)
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}" if kind else None
