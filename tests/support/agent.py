"""Agents' replies to real notifications, written the way mail clients write them."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path


def notifications(outbox_dir: Path, to: str) -> list[EmailMessage]:
    """The notifications written to ``outbox_dir`` for one agent, oldest first."""
    found = []
    for path in sorted(outbox_dir.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        if msg["X-Envelope-To"] == f"<{to}>" and msg["Auto-Submitted"] == "auto-generated":
            found.append(msg)
    return found


def mails_to(outbox_dir: Path, to: str) -> list[EmailMessage]:
    """Every message written to ``outbox_dir`` for one recipient, oldest first."""
    out = []
    for path in sorted(outbox_dir.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(msg, EmailMessage)
        if msg["X-Envelope-To"] == f"<{to}>":
            out.append(msg)
    return out


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def _quote_header(style: str, sender: str) -> str:
    return {
        "gmail": f"On Mon, Nov 2, 2026 at 10:30 AM {sender} wrote:\n",
        "apple": f"> On 2 Nov 2026, at 10:30, {sender} wrote:\n> ",
        "thunderbird": f"On 02/11/2026 10:30, {sender} wrote:",
        "outlook": (
            "________________________________\n"
            f"From: {sender}\nSent: Monday, November 2, 2026 10:30 AM\n"
            "To: Bob Agent <bob@desk.test>\nSubject: {subject}\n"
        ),
    }[style]


def agent_reply(
    notification: EmailMessage,
    text: str,
    *,
    sender: str = "Bob Agent <bob@desk.test>",
    style: str = "gmail",
    message_id: str = "agent1@desk.test",
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> tuple[bytes, str]:
    """The agent's answer to a notification (top-posted, as the client quotes it).

    Returns the message and the address it is sent to (the notification's Reply-To).
    """
    original = text_of(notification)
    quoted_by = str(notification["From"])
    if style == "outlook":
        head = _quote_header(style, quoted_by).replace("{subject}", str(notification["Subject"]))
        history = head + "\n" + original  # Outlook does not quote with '>'
    else:
        quoted = "\n".join(f"> {line}" if line else ">" for line in original.split("\n"))
        history = _quote_header(style, quoted_by) + "\n" + quoted
    reply_to = notification["Reply-To"].addresses[0].addr_spec
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = reply_to
    msg["Subject"] = f"Re: {notification['Subject']}"
    msg["Message-ID"] = f"<{message_id}>"
    msg["In-Reply-To"] = notification["Message-ID"]
    msg["References"] = f"{notification['References']} {notification['Message-ID']}"
    msg["Date"] = "Mon, 02 Nov 2026 10:35:00 +0000"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(f"{text}\n\n{history}\n")
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes(policy=policy.SMTP), reply_to
