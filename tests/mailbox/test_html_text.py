"""HTML to plain text: the body Echo shows, trims and searches for HTML-only mail."""

from __future__ import annotations

import random
import time

import pytest

from echodesk.mailbox.html_text import html_to_text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("", ""),
        ("plain text, no tags", "plain text, no tags"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        # Gmail writes one <div> per line: lines, not paragraphs.
        ("<div>Line one<br>Line two</div><div>Line three</div>", "Line one\nLine two\nLine three"),
        ("<div>a</div>\n\n   <div>b</div>", "a\nb"),
        ("<h1>Title</h1><p>Body</p><hr><p>After</p>", "Title\n\nBody\n\nAfter"),
        ("plain <br><br><br><br> text", "plain\n\ntext"),
        ("<p>  lots   of\n\n  space\tinside  </p>", "lots of space inside"),
        ("Hello<b>World</b>", "HelloWorld"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", "a b\nc d"),
        ("<pre>  keep   spacing\n    here</pre>", "keep   spacing\nhere"),
    ],
)
def test_blocks_and_whitespace(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
        ("<ol><li>first</li><li>second</li><li>third</li></ol>", "1. first\n2. second\n3. third"),
        ("<p>Intro</p><ul><li>x</li></ul><p>Outro</p>", "Intro\n\n- x\n\nOutro"),
        ("<ul><li>unclosed<li>items", "- unclosed\n- items"),
    ],
)
def test_lists(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ('<a href="https://example.com/x">our site</a>', "our site (https://example.com/x)"),
        ('<a href="https://example.com">https://example.com</a>', "https://example.com"),
        ('<a href="https://example.com/">https://example.com</a>', "https://example.com"),
        ('<a href="mailto:x@example.com">mail me</a>', "mail me"),
        ("<a href='https://e.com/?a=1&amp;b=2'>query</a>", "query (https://e.com/?a=1&b=2)"),
        ('<a href="https://e.com/i"><img src="i.png"></a>', ""),
        ('<a href="https://e.com/">the <b>bold</b> link</a>', "the bold link (https://e.com/)"),
    ],
)
def test_links(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("caf&eacute; &amp; cr&egrave;me", "café & crème"),
        ("&lt;tag&gt; &quot;q&quot; &#39;s&#39;", "<tag> \"q\" 's'"),
        ("&#8364; &#x263A; &#x1F600;", "€ ☺ 😀"),
        ("a&nbsp;b &nbsp; c&nbsp;&nbsp;d", "a b c d"),
        ("&unknownentity; &#0; &#xD800;", "&unknownentity; \ufffd \ufffd"),
        ("AT&T and a & b", "AT&T and a & b"),
    ],
)
def test_entities(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_scripts_styles_comments_and_head_are_dropped() -> None:
    markup = (
        "<!DOCTYPE html><html><head><title>Window title</title>"
        "<meta charset='utf-8'><style>p { color: red }</style>"
        "<script>var secret = 'alert(1)';</script></head>"
        "<body><!-- a comment --><p>Visible</p><noscript>enable js</noscript>"
        "<script type='text/javascript'>document.write('x')</script>"
        "<!--[if mso]><p>Outlook only</p><![endif]--><template><p>tpl</p></template>"
        "<?xml version='1.0'?><p>End</p></body></html>"
    )
    assert html_to_text(markup) == "Visible\n\nEnd"


def test_blockquotes_are_prefixed() -> None:
    markup = "<p>Reply</p><blockquote><p>quoted line</p><p>second</p></blockquote><p>Bye</p>"
    assert html_to_text(markup) == "Reply\n\n> quoted line\n>\n> second\n\nBye"
    nested = "<blockquote>one<blockquote>two</blockquote>three</blockquote>after"
    assert html_to_text(nested) == "> one\n>\n> > two\n>\n> three\n\nafter"
    assert html_to_text("<blockquote><pre>a\nb</pre></blockquote>") == "> a\n> b"


@pytest.mark.parametrize(
    "markup",
    [
        "<p>unclosed <b>bold <i>italic",
        "</p></div></blockquote></ul></a></pre> stray closers",
        "<<<>>><a<a<a href=x>text</",
        "<style>never closed p{}",
        "<!-- never closed comment <p>hidden</p>",
        "<a href=>empty href</a><a href>bare</a><a>no href</a>",
        '<p title="a > b">attr with gt</p>',
        "<di\x00v>nul</di\x00v>\x00",
        "<" * 10_000,
        "<a " * 10_000,
        "<p>" * 10_000 + "deep" + "</p>" * 10_000,
        "<blockquote>" * 2_000 + "deep quote",
        "&" * 5_000 + "&#" * 5_000 + "&#x" * 5_000,
        "\ud800 lone surrogate \udfff",
        "<script>" + "x" * 100_000,
    ],
)
def test_hostile_markup_never_raises(markup: str) -> None:
    out = html_to_text(markup)
    assert isinstance(out, str)


def test_hostile_markup_keeps_text_it_can_read() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>italic") == "unclosed bold italic"
    assert html_to_text("<style>never closed p{}") == ""
    assert html_to_text("<!-- never closed comment <p>hidden</p>") == ""
    # A '>' inside a quoted attribute ends the tag early (the tokenizer never
    # looks past a '>'): some attribute text leaks, the content survives.
    assert html_to_text('<p title="a > b">attr with gt</p>').endswith("attr with gt")
    assert html_to_text("<p>" * 10_000 + "deep" + "</p>" * 10_000) == "deep"


def test_random_markup_never_raises() -> None:
    rng = random.Random(20_240_601)
    alphabet = "<>/=\"'&#;!-? abpdivlscrtyebrq\n\t\xa0é中"
    for _ in range(300):
        markup = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        assert isinstance(html_to_text(markup), str)


def test_linear_time_on_pathological_input() -> None:
    """Patterns that make backtracking tokenizers quadratic stay fast."""
    for markup in ("<a" * 100_000, "<!--" + "-" * 200_000, '<p a="' * 50_000, "&#" * 100_000):
        start = time.perf_counter()
        html_to_text(markup)
        assert time.perf_counter() - start < 2.0
