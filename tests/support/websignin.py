"""Signing in to the web archive as an agent does: the form, the emailed link, the confirmation."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from flask.testing import FlaskClient
from sqlalchemy import func, select

from echodesk.store.db import Database
from echodesk.store.models import Outbox
from tests.support.desk import Desk


def csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def link_for(desk: Desk | Database, email: str) -> str:
    """The newest sign-in link queued for ``email`` (as the agent reads it in the mail)."""
    db = desk.db if isinstance(desk, Desk) else desk
    with db.reading() as session:
        row = session.scalars(
            select(Outbox)
            .where(Outbox.purpose == "signin", Outbox.rcpt == email)
            .order_by(Outbox.id.desc())
        ).first()
        assert row is not None and row.raw is not None
        msg = BytesParser(policy=policy.default).parsebytes(bytes(row.raw))
    body = msg.get_body(("plain",))
    assert body is not None
    match = re.search(r"(https?://\S+/signin/\S+)", str(body.get_content()))
    assert match
    return match.group(1)


def sign_in(client: FlaskClient, desk: Desk, email: str = "bob@desk.test") -> None:
    page = client.get("/signin").get_data(as_text=True)
    client.post("/signin", data={"email": email, "csrf": csrf(page)})
    path = "/" + link_for(desk, email).split("/", 3)[3]
    confirm = client.get(path).get_data(as_text=True)
    answer = client.post(path, data={"csrf": csrf(confirm)})
    assert answer.status_code == 302, answer.get_data(as_text=True)


def links_sent(db: Database, email: str) -> int:
    """How many sign-in mails are queued for ``email``."""
    with db.reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.purpose == "signin", Outbox.rcpt == email)
        )
    return int(count or 0)
