"""The archive for triage: the audit trail in words, the signed-in agent on every page."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import update

from echodesk.store.models import Customer
from echodesk.store.readmodels import cut_part
from echodesk.store.types import utcnow
from echodesk.web.auditwords import describe
from tests.support.agent import agent_reply, notifications
from tests.support.desk import Desk
from tests.support.mail import make_mail
from tests.support.webapp import desk_app
from tests.support.websignin import sign_in


def test_the_ticket_page_tells_the_trail_in_words(team: Desk) -> None:
    team.deliver(make_mail(message_id="q@customer.test"))
    team.send_outbox()
    outbox: Path = team.settings.data_dir / "outbox"
    note = notifications(outbox, "bob@desk.test")[-1]
    raw, to = agent_reply(note, "#priority urgent\n#assign eve\n\nHello Alice, on it.")
    team.deliver(raw, rcpt_to=(to,))
    note = notifications(outbox, "bob@desk.test")[-1]
    raw, to = agent_reply(note, "#status closed\n#tag", message_id="b2@desk.test")
    team.deliver(raw, rcpt_to=(to,))
    client = desk_app(team).test_client()
    sign_in(client, team)
    page = client.get("/ticket/1").get_data(as_text=True)
    assert "Opened by Echo" in page
    assert "Bob Agent changed the priority normal → urgent" in page
    assert "Bob Agent changed the assignee nobody → Eve Agent" in page
    assert "Bob Agent replied to the customer (status open → pending)" in page
    assert "Bob Agent&#39;s commands were refused" in page


def test_an_unknown_action_shows_its_code_and_a_system_actor_its_name() -> None:
    row = {"actor": "system:sla", "action": "sla.breach", "payload": {"target": "resolution",
           "due": "2026-12-01T10:00:00+00:00"}}  # fmt: skip
    assert describe(row) == "SLA breached: the resolution was due 2026-12-01 10:00 UTC"
    odd = {"actor": "cli:operator", "action": "tickets.teleport", "payload": {}}
    assert describe(odd) == "tickets.teleport by cli:operator"


def test_every_page_names_the_signed_in_agent_beside_sign_out(team: Desk) -> None:
    team.deliver(make_mail(message_id="q@customer.test"))
    client = desk_app(team).test_client()
    sign_in(client, team)
    for path in ("/", "/ticket/1", "/spool", "/agents", "/replies", "/health"):
        page = client.get(path).get_data(as_text=True)
        assert "Signed in as Bob Agent" in page and "Sign out" in page, path


def test_the_customers_index_finds_by_name_address_and_domain(team: Desk) -> None:
    team.deliver(make_mail(message_id="a@x.test", sender="Alice Customer <alice@customer.test>"))
    team.deliver(make_mail(message_id="b@x.test", sender="Bruno Buyer <bruno@shop.test>"))
    team.deliver(make_mail(message_id="c@x.test", sender="Carla <carla@shop.test>", subject="Two"))
    with team.db.transaction() as session:
        session.execute(
            update(Customer)
            .where(Customer.email == "carla@shop.test")
            .values(bounced_at=utcnow(), bounce_detail="complaint: abuse report")
        )
    client = desk_app(team).test_client()
    sign_in(client, team)

    def names(query: str) -> list[str]:
        page = client.get("/customers", query_string={"q": query})
        assert page.status_code == 200
        return re.findall(r'/customer/\d+">([^<]+)</a>', page.get_data(as_text=True))

    assert sorted(names("")) == ["Alice Customer", "Bruno Buyer", "Carla"]
    assert names("alice") == ["Alice Customer"]
    assert sorted(names("@shop.test")) == ["Bruno Buyer", "Carla"]
    assert names("BUYER") == ["Bruno Buyer"]
    assert names("100%_") == []  # wildcards are letters here
    page = client.get("/customers", query_string={"q": "carla"}).get_data(as_text=True)
    assert "complained" in page
    assert re.search(r"<td>1</td>\s*<td>1</td>", page)  # one ticket, open


def test_the_quoted_part_is_offered_only_where_there_is_one(team: Desk) -> None:
    team.deliver(make_mail(message_id="q1@x.test", body="Plain words, nothing quoted.   \n\n"))
    quoted = (
        "Still broken.\n\nOn Mon, Nov 2, 2026 at 10:30 AM Support wrote:\n"
        "> Have you tried turning it off?\n"
    )
    team.deliver(make_mail(message_id="q2@x.test", subject="Other", body=quoted))
    client = desk_app(team).test_client()
    sign_in(client, team)
    plain = client.get("/ticket/1").get_data(as_text=True)
    assert "Show the quoted part" not in plain
    page = client.get("/ticket/2").get_data(as_text=True)
    assert page.count("Show the quoted part") == 1
    folded = page.split("Show the quoted part", 1)[1]
    assert "Have you tried turning it off?" in folded and "Still broken." not in folded


def test_what_trimming_cut_is_what_is_folded() -> None:
    assert cut_part("Hello\n\n-- \nBob\n", "Hello") == "-- \nBob"
    assert cut_part("Hello  \r\n", "Hello") == ""
    assert cut_part("Rewritten entirely", "Something else") == "Rewritten entirely"
    assert cut_part("", "") == ""
