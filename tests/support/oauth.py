"""A throw-away OAuth2 provider on loopback, in the shape of Microsoft's and Google's.

It serves what Echo and Dovecot ask a real provider for:

- ``POST /token``: the refresh-token, device-code and authorization-code
  (with PKCE, S256) grants, answering errors as RFC 6749 §5.2 says;
- ``POST /devicecode``: a device code (RFC 8628), approved by :meth:`approve`;
- ``GET /authorize``: a consent that is given at once, redirecting the
  browser back to ``redirect_uri`` with a code;
- ``POST /introspect``: Dovecot's oauth2 passdb asks here whether an
  access token is good (RFC 7662 answer with ``username``).

Tests revoke refresh tokens, expire access tokens, and make the token
endpoint misbehave (``fault``: "garbage", "500" or "timeout"); every token
request is counted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from echodesk.store import oauth as grants
from tests.support.desk import Desk

#: The mailbox the provider's tokens open.
USER = "support@desk.test"


@dataclass
class _State:
    user: str = USER
    #: access token -> expiry (epoch seconds)
    access: dict[str, float] = field(default_factory=dict)
    refresh: set[str] = field(default_factory=set)
    devices: dict[str, bool] = field(default_factory=dict)  # device code -> approved
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (challenge, uri)
    lifetime: int = 3600
    rotate: bool = False
    fault: str = ""
    token_requests: int = 0
    grants: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, *, with_refresh: bool) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(16)
        self.access[access] = time.time() + self.lifetime
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": self.lifetime,
        }
        if with_refresh:
            refresh = "rt-" + secrets.token_urlsafe(16)
            self.refresh.add(refresh)
            answer["refresh_token"] = refresh
        return answer


class _Handler(BaseHTTPRequestHandler):
    state: _State

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def _json(self, code: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != "/authorize":
            self._json(404, {"error": "not_found"})
            return
        code = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.codes[code] = (query.get("code_challenge", ""), query["redirect_uri"])
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/introspect":
            with self.state.lock:
                good = self.state.access.get(form.get("token", ""), 0) > time.time()
            answer = {"active": True, "username": self.state.user} if good else {"active": False}
            self._json(200, answer)
        elif path == "/devicecode":
            device = secrets.token_urlsafe(16)
            with self.state.lock:
                self.state.devices[device] = False
            self._json(
                200,
                {
                    "device_code": device,
                    "user_code": "ECHO-1234",
                    "verification_uri": "https://provider.test/devicelogin",
                    "expires_in": 60,
                    "interval": 0.2,
                    "message": "To sign in, open https://provider.test/devicelogin",
                },
            )
        elif path == "/token":
            self._token(form)
        else:
            self._json(404, {"error": "not_found"})

    def _token(self, form: dict[str, str]) -> None:
        state = self.state
        with state.lock:
            state.token_requests += 1
            fault = state.fault
        if fault == "timeout":
            time.sleep(5)
            return
        if fault == "500":
            self.send_response(500)
            self.send_header("Content-Length", "21")
            self.end_headers()
            self.wfile.write(b"Internal Server Error")
            return
        if fault == "garbage":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"<html>oop")
            return
        answer = self._grant(form)
        self._json(400 if "error" in answer else 200, answer)

    def _grant(self, form: dict[str, str]) -> dict[str, Any]:
        state = self.state
        grant = form.get("grant_type", "")
        with state.lock:
            state.grants.append(grant)
            if grant == "refresh_token":
                if form.get("refresh_token") not in state.refresh:
                    return {"error": "invalid_grant", "error_description": "AADSTS70000 revoked"}
                if state.rotate:
                    state.refresh.discard(form["refresh_token"])
                    return state.issue(with_refresh=True)
                return state.issue(with_refresh=False)
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                approved = state.devices.get(form.get("device_code", ""))
                if approved is None:
                    return {"error": "expired_token"}
                if not approved:
                    return {"error": "authorization_pending"}
                del state.devices[form["device_code"]]
                return state.issue(with_refresh=True)
            if grant == "authorization_code":
                challenge, uri = state.codes.pop(form.get("code", ""), ("", ""))
                verifier = form.get("code_verifier", "")
                digest = hashlib.sha256(verifier.encode()).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if not challenge or expected != challenge or form.get("redirect_uri") != uri:
                    return {"error": "invalid_grant", "error_description": "PKCE or code"}
                return state.issue(with_refresh=True)
        return {"error": "unsupported_grant_type"}


class Provider:
    """The provider's endpoints on a loopback port, and the knobs tests turn."""

    def __init__(self) -> None:
        self.state = _State()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a test does --------------------------------------------------------

    def approve_devices(self) -> None:
        """The person consents to every device code shown so far."""
        with self.state.lock:
            for device in self.state.devices:
                self.state.devices[device] = True

    def grant(self) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair, as a consent would give."""
        with self.state.lock:
            answer = self.state.issue(with_refresh=True)
        return answer["access_token"], answer["refresh_token"]

    def consent(self, desk: Desk, *, expires_in: float = 3600) -> tuple[str, str]:
        """Store a consent in ``desk`` as ``echodesk connect desk`` does: fresh tokens,
        sealed; the access token expiring in ``expires_in`` seconds (Echo's view)."""
        access, refresh = self.grant()
        assert desk.ctx.keyring is not None
        grants.consented(
            desk.db,
            grants.sealer(desk.ctx.keyring.root()),
            "desk",
            refresh_token=refresh,
            access_token=access,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        )
        return access, refresh

    def expire_access_tokens(self) -> None:
        with self.state.lock:
            self.state.access.clear()

    def revoke(self) -> None:
        """Every refresh token stops working (a password change, a revoked consent)."""
        with self.state.lock:
            self.state.refresh.clear()
            self.state.access.clear()

    @property
    def token_requests(self) -> int:
        with self.state.lock:
            return self.state.token_requests

    def settings(self, name: str = "desk", provider: str = "microsoft") -> dict[str, Any]:
        """An ``oauth`` settings entry that asks this provider."""
        return {
            "name": name,
            "provider": provider,
            "client_id": "echo-test-client",
            "token_url": f"{self.url}/token",
            "device_url": f"{self.url}/devicecode",
            "authorize_url": f"{self.url}/authorize",
            "timeout": 2,
        }
