"""Building test messages as bytes, the way mail clients write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

_BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make_mail(
    *,
    subject: str = "Printer on fire",
    sender: str = "Alice Customer <alice@customer.test>",
    to: str = "support@desk.test",
    body: str = "Hello, my printer is on fire.\n",
    message_id: str | None = "m1@customer.test",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    minutes: int = 0,
    headers: dict[str, str] | None = None,
    cc: str | None = None,
) -> bytes:
    """A simple text message; ids are given bare and written with angle brackets."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(_BASE + timedelta(minutes=minutes))
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    raw = msg.as_bytes(policy=SMTP)
    # Write threading headers raw: the email package would re-fold long ids.
    extra = b""
    if in_reply_to:
        extra += f"In-Reply-To: <{in_reply_to}>\r\n".encode()
    if references:
        extra += ("References: " + "\r\n ".join(f"<{r}>" for r in references) + "\r\n").encode()
    return extra + raw
