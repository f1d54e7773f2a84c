"""Machine-facing endpoints: the inbound-mail webhook, provider bounces, Investigate snapshots.

JSON in, JSON out, every error a JSON ``{"error": ...}`` with the right 4xx:
401 bad credentials, 400 malformed JSON (nested too deep, see
:mod:`echodesk.web.jsonbody`) or missing fields, 413 too large, 415 not JSON,
422 an ``Idempotency-Key`` sent again with a different body. Secrets are
compared in constant time. The inbound and bounce
webhooks answer 200 only once the message is committed to the spool (the
provider retries otherwise); the work behind them is the desk's, handed to
the web layer as an :class:`IngestHooks` object.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint, Response, jsonify, request

from echodesk.errors import EchoError, StoreError
from echodesk.web.answers import error
from echodesk.web.jsonbody import BodyError, parse
from echodesk.web.openapi import BOUNCE, INBOUND, SNAPSHOT, document
from echodesk.web.shape import ShapeError, check

if TYPE_CHECKING:
    from echodesk.config import Settings
    from echodesk.web.app import WebContext


class SnapshotAnswer(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def created(self) -> bool: ...

    @property
    def replayed(self) -> bool: ...

    @property
    def key_reused(self) -> bool:
        """The Idempotency-Key came before with a different body (nothing was done)."""
        ...


class IngestHooks(Protocol):
    """What the endpoints ask the desk to do."""

    def inbound(self, payload: dict[str, Any]) -> int: ...

    def bounce(self, payload: dict[str, Any]) -> str: ...

    def snapshot(self, payload: dict[str, Any], key: str | None) -> SnapshotAnswer: ...


class Refused(Exception):
    """An HTTP error with a JSON body (raised inside a handler, answered by it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _secret_given() -> str:
    """The secret of a request: a Bearer token, or the password of HTTP Basic."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return ""
        return decoded.partition(":")[2]
    return ""


def _check(secret: str, *, basic: bool) -> None:
    given = _secret_given()
    if not basic and not request.headers.get("Authorization", "").lower().startswith("bearer "):
        given = ""
    if not secret:
        raise Refused(401, "this endpoint is switched off: no token is configured")
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise Refused(401, "missing or wrong credentials")


def _payload(limit: int, schema: dict[str, Any]) -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise Refused(415, "send JSON (Content-Type: application/json)")
    length = request.content_length
    if length is not None and length > limit:
        raise Refused(413, f"the request is larger than {limit} bytes")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise Refused(413, f"the request is larger than {limit} bytes")
    try:
        data = parse(body)
    except BodyError as exc:
        raise Refused(400, str(exc)) from None
    try:
        check(data, schema)
    except ShapeError as exc:
        raise Refused(400, str(exc)) from None
    return data  # type: ignore[no-any-return]


def _snapshot_answer(settings: Settings, result: SnapshotAnswer) -> Response:
    """201 with the ticket opened, 200 added or replayed, 422 a key reused for another body."""
    if result.key_reused:
        raise Refused(422, "Idempotency-Key: already used with a different body")
    body = {
        "ticket": settings.ticket_label(result.number),
        "url": f"{settings.public_web_url}/ticket/{result.number}",
        "created": result.created,
        "replayed": result.replayed,
    }
    response = jsonify(body)
    response.status_code = 201 if result.created else 200
    return response


def register(bp: Blueprint, web: WebContext) -> None:
    settings = web.settings
    mail_limit = settings.max_message_size * 4 // 3 + 1024 * 1024  # base64 plus the JSON

    def answer(handler: Any) -> Response:
        try:
            return handler()  # type: ignore[no-any-return]
        except Refused as exc:
            return error(exc.status, exc.message)
        except StoreError as exc:  # Echo's own trouble (database, blob store): retry later
            response = error(503, f"cannot store it now, try again later ({exc})")
            response.headers["Retry-After"] = "60"
            return response
        except EchoError as exc:  # a payload the desk cannot use: the sender's to fix
            return error(400, str(exc))

    @bp.post("/inbound")
    def hook_inbound() -> Response:
        def run() -> Response:
            _check(settings.webhook_token, basic=True)
            payload = _payload(mail_limit, INBOUND)
            if web.hooks is None:
                raise Refused(503, "inbound webhooks are not served here")
            spool_id = web.hooks.inbound(payload)
            return jsonify({"accepted": True, "spool_id": spool_id})

        return answer(run)

    @bp.post("/bounce")
    def hook_bounce() -> Response:
        def run() -> Response:
            _check(settings.webhook_token, basic=True)
            payload = _payload(1024 * 1024, BOUNCE)
            if web.hooks is None:
                raise Refused(503, "bounce webhooks are not served here")
            return jsonify({"accepted": True, "result": web.hooks.bounce(payload)})

        return answer(run)

    @bp.post("/from-snapshot")
    def hook_snapshot() -> Response:
        def run() -> Response:
            _check(settings.snapshot_token, basic=False)
            payload = _payload(settings.snapshot_max_bytes, SNAPSHOT)
            if web.hooks is None:
                raise Refused(503, "snapshots are not served here")
            key = request.headers.get("Idempotency-Key", "").strip() or None
            if key is not None and len(key) > 200:
                raise Refused(400, "Idempotency-Key: at most 200 characters")
            return _snapshot_answer(settings, web.hooks.snapshot(payload, key))

        return answer(run)

    @bp.get("/api/openapi.json")
    def openapi() -> Response:
        return jsonify(document(settings.web_prefix))
