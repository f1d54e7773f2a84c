"""Plain text from an HTML body, for mail that has no text part.

A help desk needs readable text to trim, search and quote; it does not need a
faithful rendering. Block elements become line breaks, list items get a dash,
table cells are separated by spaces, links keep their target, quotes keep a
``>`` prefix, and scripts, styles and comments disappear.

The markup is tokenised with one regular expression rather than
``html.parser``: mail HTML is often hundreds of kilobytes of Word markup, and
the stdlib's pure-Python tokenizer made this the slowest step of parsing a
message. Every pattern here is linear (a tag never spans another ``<``), so
hostile markup cannot make it slow, and nothing in it raises.
"""

from __future__ import annotations

import html
import re

# Elements that start a new line; the first group gets a blank line around them.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
_BLOCK = _PARAGRAPH | frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "main",
        "nav",
        "ol",
        "pre",
        "section",
        "tr",
        "ul",
    }
)
# Elements whose content is never text. Browsers treat an unclosed script or
# style as running to the end of the document, and so do we.
_SKIP = frozenset({"script", "style", "title", "template", "noscript", "xml"})

_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"  # comment; an unclosed one runs to the end, as in browsers
    r"|<(/?)([A-Za-z][A-Za-z0-9:_-]*)([^<>]*)>"  # start or end tag (never spans a '<')
    r"|<[!?][^<>]*>",  # doctype, CDATA marker, processing instruction
    re.S,
)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
# Outlook and Apple Mail write "&nbsp; " for every second space; collapse it too.
_SPACE = re.compile(r"[ \t\r\n\f\xa0]+")
_QUOTE_ONLY = re.compile(r"^[> ]*$")
_CLOSERS: dict[str, re.Pattern[str]] = {tag: re.compile(rf"</{tag}\s*>", re.I) for tag in _SKIP}


class _Writer:
    """Collects text pieces, tracking the state that inline text depends on.

    Block elements ask for "at least N line breaks here" rather than adding
    them, so ``<div>a</div><div>b</div>`` (Gmail writes a div per line) gives
    two lines, not lines with blank lines between.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.breaks = 2  # line breaks at the end of the output; the start counts as a paragraph
        self.pre = 0
        self.quote = 0
        self.links: list[tuple[str, int]] = []
        self.lists: list[int] = []  # per open list: next item number, 0 for bullets

    def text(self, raw: str) -> None:
        """Append character data: entities decoded, whitespace collapsed (outside <pre>)."""
        if "&" in raw:
            raw = html.unescape(raw)
        if not self.pre:
            raw = _SPACE.sub(" ", raw)
            if self.breaks and raw.startswith(" "):
                raw = raw.lstrip(" ")
        if raw:
            self.emit(raw)

    def emit(self, piece: str) -> None:
        """Append ``piece``, prefixing every line inside a blockquote with '> '."""
        if self.quote:
            prefix = "> " * self.quote
            piece = piece.replace("\n", "\n" + prefix)
            if self.breaks:
                piece = prefix + piece
        self.parts.append(piece)
        stripped = piece.rstrip("\n")
        self.breaks = len(piece) - len(stripped) + (self.breaks if not stripped else 0)

    def newlines(self, count: int) -> None:
        """Make sure the output ends with at least ``count`` line breaks."""
        if self.breaks >= count:
            return
        # Blank lines inside a quote stay quoted: "> a\n>\n> b".
        blank = ">" * self.quote + "\n"
        first = "\n" if not self.breaks else blank
        self.parts.append(first + blank * (count - self.breaks - 1))
        self.breaks = count

    def start(self, tag: str, attrs: str) -> None:
        if tag == "br":
            self.parts.append("\n")
            self.breaks += 1
        elif tag == "li":
            self.newlines(1)
            number = self.lists[-1] if self.lists else 0
            if number:
                self.lists[-1] += 1
            self.emit(f"{number}. " if number else "- ")
        elif tag in ("td", "th"):
            self.emit(" ")
        elif tag in _BLOCK:
            self.newlines(2 if tag in _PARAGRAPH else 1)
        if tag in ("ul", "ol"):
            self.lists.append(1 if tag == "ol" else 0)
        elif tag == "pre":
            self.pre += 1
        elif tag == "blockquote":
            self.quote += 1
        elif tag == "a":
            self.links.append((_href(attrs), len(self.parts)))

    def end(self, tag: str) -> None:
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "blockquote":
            self.newlines(1)
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "a" and self.links:
            self._close_link(*self.links.pop())
        if tag in _BLOCK:
            self.newlines(2 if tag in _PARAGRAPH else 1)

    def _close_link(self, href: str, first_part: int) -> None:
        """Show a web link's target after its text, unless the text already is the target."""
        if not href.startswith(("http://", "https://")):
            return
        label = "".join(self.parts[first_part:]).strip()
        if label and label != href and label.rstrip("/") != href.rstrip("/"):
            self.emit(f" ({href})")


def _href(attrs: str) -> str:
    match = _HREF.search(attrs)
    if not match:
        return ""
    value = next((g for g in match.groups() if g is not None), "")
    return html.unescape(value).strip()


def html_to_text(markup: str) -> str:
    """Readable text from ``markup`` (best effort; '' for empty input). Never raises."""
    if not markup:
        return ""
    out = _Writer()
    pos = 0
    size = len(markup)
    while pos < size:
        match = _TOKEN.search(markup, pos)
        if match is None:
            out.text(markup[pos:])
            break
        if match.start() > pos:
            out.text(markup[pos : match.start()])
        pos = match.end()
        name = match.group(2)
        if name is None:
            continue  # comment, doctype or processing instruction
        tag = name.lower()
        if match.group(1):
            out.end(tag)
        elif tag in _SKIP:
            closer = _CLOSERS[tag].search(markup, pos)
            pos = closer.end() if closer else size
        else:
            out.start(tag, match.group(3))
    return _tidy("".join(out.parts))


def _tidy(text: str) -> str:
    """Trim each line; keep at most one blank line in a row, none at a quote's edges."""
    text = text.replace("\xa0", " ")
    lines: list[str] = []
    for raw_line in text.split("\n"):
        line = raw_line.rstrip()
        if not line.startswith(">"):
            line = line.lstrip()
        elif _QUOTE_ONLY.match(line):
            line = line.replace(" ", "")
        lines.append(line)
    out: list[str] = []
    for index, line in enumerate(lines):
        if line and not line.strip("> "):  # a quoted blank line: only between quoted text
            after = lines[index + 1] if index + 1 < len(lines) else ""
            if not (out and out[-1].strip("> ") and after.strip("> ") and after.startswith(">")):
                line = ""
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip()
