"""A real SMTP relay for tests: an aiosmtpd server that records what it receives.

Its answers to DATA can be scripted (``answers=["451 ...", "451 ...", "250 OK"]``,
then 250 for the rest), and it can run a callback for every message it takes,
which is how a test builds an auto-responder that answers everything.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.support.postgres import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    answers: list[str]
    on_message: Callable[[Received], None] | None
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            answer = self.answers.pop(0) if self.answers else "250 2.0.0 OK"
            if not answer.startswith("250"):
                return answer
            item = Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
            self.received.append(item)
        if self.on_message is not None:
            threading.Thread(target=self.on_message, args=(item,), daemon=True).start()
        return answer


@dataclass
class _OAuthHandler(_Handler):
    """A relay that takes mail only after SASL XOAUTH2 or OAUTHBEARER with a good token.

    A refusal is answered as Gmail does: a 334 carrying a JSON error, then 535.
    """

    token_ok: Callable[[str, str], bool] = lambda user, token: False
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def _check(self, server: Any, args: list[str], mechanism: str) -> AuthResult:
        text = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(
            part.split("=", 1) for part in text.split("\x01") if "=" in part and part != "n,,"
        )
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":  # n,a=USER,
            user = text.split(",")[1].removeprefix("a=") if text.count(",") >= 2 else ""
        token = fields.get("auth", "").removeprefix("Bearer ")
        good = self.token_ok(user, token)
        with self.lock:
            self.logins.append((mechanism, good))
        if good:
            return AuthResult(success=True, auth_data=user)
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        return await self._check(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        return await self._check(server, args, "OAUTHBEARER")


class RecordingRelay:
    def __init__(
        self,
        answers: list[str] | None = None,
        on_message: Callable[[Received], None] | None = None,
        refuse: dict[str, str] | None = None,
        token_ok: Callable[[str, str], bool] | None = None,
    ) -> None:
        """``token_ok(user, token)``: demand an OAuth2 sign-in and judge it with this."""
        self.port = free_port()
        if token_ok is None:
            self.handler = _Handler(list(answers or []), on_message, dict(refuse or {}))
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
            return
        self.handler = _OAuthHandler(
            list(answers or []), on_message, dict(refuse or {}), token_ok=token_ok
        )
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            auth_require_tls=False,  # loopback only; MAIL without AUTH is refused above
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """Each sign-in tried: (mechanism, whether it was good)."""
        assert isinstance(self.handler, _OAuthHandler)
        with self.handler.lock:
            return list(self.handler.logins)

    def __enter__(self) -> RecordingRelay:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def attempts(self) -> int:
        return self.handler.attempts

    def settings(self) -> dict[str, Any]:
        """The ``relay`` setting that points Echo at this server."""
        return {"host": "127.0.0.1", "port": self.port}

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"relay got {len(self.received)} messages, expected {count}")
