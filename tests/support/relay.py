"""A real SMTP relay for tests: an aiosmtpd server that records what it receives.

Its answers to DATA can be scripted (``answers=["451 ...", "451 ...", "250 OK"]``,
then 250 for the rest), and it can run a callback for every message it takes,
which is how a test builds an auto-responder that answers everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

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


class RecordingRelay:
    def __init__(
        self,
        answers: list[str] | None = None,
        on_message: Callable[[Received], None] | None = None,
        refuse: dict[str, str] | None = None,
    ) -> None:
        self.handler = _Handler(list(answers or []), on_message, dict(refuse or {}))
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

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
