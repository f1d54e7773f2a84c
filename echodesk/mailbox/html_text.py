"""Plain text from an HTML body, for mail that has no text part.

A help desk needs readable text to trim, search and quote; it does not need a
faithful rendering. The stdlib's tolerant HTML tokenizer is enough: block
elements become line breaks, list items get a dash, links keep their target,
scripts and styles disappear. Never raises on hostile markup.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
        "center",
    ]
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.quote_depth = 0
        self.href_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += tag not in _VOID
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "table") else "\n")
        if tag == "pre":
            self.pre_depth += 1
        if tag == "blockquote":
            self.quote_depth += 1
        if tag == "a":
            self.href_stack.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        if tag == "a" and self.href_stack:
            self._close_link(self.href_stack.pop())
        if tag in _BLOCK or tag == "li":
            self.parts.append("\n")

    def _close_link(self, href: str) -> None:
        if not href.startswith(("http://", "https://")):
            return
        text = self.parts[-1].strip() if self.parts else ""
        if text and text != href and href.rstrip("/") != text.rstrip("/"):
            self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if not self.pre_depth:
            data = re.sub(r"\s+", " ", data)
        if self.quote_depth:
            data = data.replace("\n", "\n> ")
            if not self.parts or self.parts[-1].endswith("\n"):
                data = "> " * self.quote_depth + data.lstrip()
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text from ``html`` (best effort; '' for empty or unreadable input)."""
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except (AssertionError, ValueError):  # pragma: no cover - tokenizer is tolerant
        pass
    text = "".join(collector.parts).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    out = "\n".join(line.lstrip() if not line.startswith(">") else line for line in lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()
