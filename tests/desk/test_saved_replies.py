"""Saved replies: a file of named texts with variables, inserted with ``#reply NAME``.

The file's checks name FILE:LINE:COLUMN; agents insert replies by mail and
through ``echodesk do``; variables are filled in for the ticket and the agent;
an unknown name is an error mail quoting the line; a broken file keeps the
last good one in force and shows in ``status``. SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from echodesk.desk.savedreplies import RepliesFileError, parse_replies, render
from tests.support.agent import agent_reply, mails_to, notifications, text_of
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in

REPLIES = """\
# Saved replies for the support team
refund:
  about: How refunds work
  text: |
    Hello $customer_first_name,

    about ${ticket} ("$subject"): refunds take 5 days and cost $$0 ($5 is not a variable).
    You have $open_tickets open ticket(s) with us, $customer_name.
    -- $agent_name
thanks: Thank you for writing to us!
"""


@pytest.fixture
def desk(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    replies = tmp_path / "replies.yaml"
    replies.write_text(REPLIES)
    harness = Desk(db_url, tmp_path / "data", replies_file=replies)
    harness.add_agent("bob@desk.test", "Bob Agent")
    harness.add_agent("eve@desk.test", "Eve Agent")
    try:
        yield harness
    finally:
        harness.close()


def _outbox(desk: Desk) -> Path:
    return desk.settings.data_dir / "outbox"


def _answer(desk: Desk, text: str) -> None:
    desk.deliver(make_mail(message_id="q@customer.test", subject="Refund please"))
    desk.send_outbox()
    note = notifications(_outbox(desk), "bob@desk.test")[-1]
    raw, to = agent_reply(note, text)
    desk.deliver(raw, rcpt_to=(to,))
    desk.send_outbox()


def _to_customer(desk: Desk) -> list[str]:
    return [text_of(m) for m in mails_to(_outbox(desk), "alice@customer.test")]


def test_every_variable_is_filled_in_for_the_ticket_and_the_agent(desk: Desk) -> None:
    _answer(desk, "#reply refund\n\nI have started it already.\n")
    (sent,) = _to_customer(desk)
    assert sent.startswith('Hello Alice,\n\nabout TKT-0001 ("Refund please"): refunds')
    assert "cost $0 ($5 is not a variable)" in sent
    assert "You have 1 open ticket(s) with us, Alice Customer." in sent
    assert "-- Bob Agent" in sent
    assert sent.index("-- Bob Agent") < sent.index("I have started it already.")


def test_a_reply_line_among_the_agents_words_goes_where_it_is_written(desk: Desk) -> None:
    _answer(desk, "Hi Alice,\n\n#reply thanks\n\nBest, Bob\n")
    (sent,) = _to_customer(desk)
    assert sent.index("Hi Alice,") < sent.index("Thank you for writing") < sent.index("Best, Bob")
    assert "#reply" not in sent


def test_an_unknown_name_changes_nothing_and_the_error_quotes_the_line(desk: Desk) -> None:
    _answer(desk, "#status pending\n#reply refnud\n\nText.\n")
    assert _to_customer(desk) == []
    assert desk.ticket(1)["status"] == "open"
    error = text_of(mails_to(_outbox(desk), "bob@desk.test")[-1])
    assert "#reply refnud" in error and "no saved reply named 'refnud'" in error


def test_help_and_every_notification_list_the_saved_replies(desk: Desk) -> None:
    _answer(desk, "#help\n")
    mails = [text_of(m) for m in mails_to(_outbox(desk), "bob@desk.test")]
    assert "Saved replies (#reply NAME): refund, thanks" in mails[0]  # the notification
    assert any("#reply <name>" in m and "\n  refund\n  thanks" in m for m in mails[1:])


def test_a_changed_file_is_used_and_a_broken_one_keeps_the_last_good_in_force(
    desk: Desk,
) -> None:
    path = desk.settings.replies_file
    time.sleep(0.01)
    path.write_text(REPLIES + "later: We will get back to you later.\n")
    desk.ctx.replies.request_reload()
    assert desk.ctx.replies.current().get("later") is not None
    path.write_text("broken: Hello $whom\n")
    desk.ctx.replies.request_reload()
    assert desk.ctx.replies.current().get("later") is not None
    assert f"{path}:1:15: 'broken': unknown variable $whom" in desk.ctx.replies.error
    status = desk.cli("status")
    assert status.returncode == 1
    assert "saved replies file" in status.stdout and "unknown variable $whom" in status.stdout


def test_echodesk_do_inserts_saved_replies_too(desk: Desk) -> None:
    desk.deliver(make_mail(message_id="q@customer.test", subject="Refund please"))
    done = desk.cli(
        "do", "TKT-0001", "--as", "eve@desk.test", "#reply thanks", "--text", "-", stdin="Eve\n"
    )
    assert done.returncode == 0, done.stderr
    desk.send_outbox()
    (sent,) = _to_customer(desk)
    assert sent.startswith("Thank you for writing to us!\n\nEve")


def test_the_replies_command_lists_checks_and_shows(desk: Desk, tmp_path: Path) -> None:
    listed = desk.cli("replies", "list")
    assert listed.returncode == 0 and "refund  How refunds work" in listed.stdout
    assert "thanks  Thank you for writing to us!" in listed.stdout
    shown = desk.cli("replies", "show", "refund")
    assert shown.stdout.startswith("Hello $customer_first_name,")
    assert "$agent_name" in shown.stderr
    assert "no problems" in desk.cli("replies", "check").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    checked = desk.cli("replies", "check", str(bad))
    assert checked.returncode == 1 and f"{bad}:2:1: not YAML" in checked.stderr
    assert desk.cli("replies", "show", "nope").returncode != 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x: Hi $name\n", "<f>:1:7: 'x': unknown variable $name (known: $customer_name"),
        ("x: |\n  line one\n    and ${nope}\n", "<f>:3:9: 'x': unknown variable $nope"),
        ("x: 'Dear $who'\n", "<f>:1:10: 'x': unknown variable $who"),
        ("- a\n- b\n", "<f>:1:1: expected a mapping of names to texts"),
        ("x: Hi\nX: Ho\n", "<f>:2:1: 'x': a second saved reply of that name"),
        ("two words: Hi\n", "<f>:1:1: a name is letters, digits"),
        ("x: [1]\n", "<f>:1:4: 'x': expected the reply's text"),
        ("x: {text: Hi, subject: S}\n", "<f>:1:4: 'x': expected the keys text and about"),
        ("x: 'open\n", "<f>:2:1: not YAML"),
    ],
)
def test_file_problems_name_file_line_and_column(text: str, problem: str) -> None:
    with pytest.raises(RepliesFileError) as found:
        parse_replies(text, "<f>")
    assert problem in str(found.value)


def test_render_leaves_what_is_not_a_variable() -> None:
    values = {"ticket": "TKT-0001"}
    assert render("$ticket ${ticket} $$ticket $5 $other $", values) == (
        "TKT-0001 TKT-0001 $ticket $5 $other $"
    )
    assert parse_replies("", "<f>").replies == {}


def test_the_archive_shows_the_saved_replies_escaped(desk: Desk) -> None:
    path = desk.settings.replies_file
    path.write_text(REPLIES + "html: <script>alert(1)</script> Hello\n")
    desk.ctx.replies.request_reload()
    client = desk_app(desk).test_client()
    sign_in(client, desk)
    page = client.get("/replies").get_data(as_text=True)
    assert "#reply refund" in page and "How refunds work" in page
    assert "Hello $customer_first_name," in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
