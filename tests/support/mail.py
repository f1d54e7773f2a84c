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


def make_dsn(
    *,
    failed: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    to: str = "support@desk.test",
    original: bytes | None = None,
    message_id: str = "dsn1@mx.customer.test",
    action: str | None = None,
) -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes one."""
    action = action or ("failed" if status.startswith("5") else "delayed")
    boundary = "=_dsn_boundary_42"
    human = (
        "This is the mail system at host mx.customer.test.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
    )
    fields = (
        "Reporting-MTA: dns; mx.customer.test\r\n"
        "Arrival-Date: Mon,  2 Nov 2026 10:00:00 +0000 (UTC)\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\n"
        f"Original-Recipient: rfc822;{failed}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=failed)}\r\n"
    )
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{human}\r\n",
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n{fields}\r\n",
    ]
    if original is not None:
        parts.append(
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
            + original.decode("utf-8", "replace")
            + "\r\n"
        )
    body = "".join(parts) + f"--{boundary}--\r\n"
    head = (
        "From: MAILER-DAEMON@mx.customer.test (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "Date: Mon, 02 Nov 2026 10:00:05 +0000\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
    )
    return (head + "\r\n" + body).encode()
