"""OAuth2 with mail providers: their endpoints, the token requests, and SASL's strings.

Microsoft 365 and Gmail no longer take passwords over IMAP and SMTP; a
mailbox signs in with an access token (SASL XOAUTH2 or OAUTHBEARER) that a
long-lived refresh token renews. This module is the wire side of that:
which endpoints and scopes each provider has (:func:`endpoints_for`), the
refresh-token grant (:func:`refresh`), the one-time consent on a terminal
(:func:`device_consent`, :func:`browser_consent`), and the SASL initial
responses. The requests themselves are made by ``authlib``; nothing here
stores a token (the desk keeps them, encrypted, in the database).

Errors are sorted by what a person must do: :class:`ConsentNeeded` (the
refresh token was revoked or expired, or consent was refused: someone must
run ``echodesk connect`` again, and asking the provider again is pointless)
and :class:`TokenEndpointFailed` (garbage, a 5xx, a time-out: try later).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE

from echodesk.config import OAuthClient
from echodesk.errors import EchoError

_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
_MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
#: Error codes of a token endpoint that mean "a person must consent again".
CONSENT_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "access_denied", "expired_token"}
)
#: A token is renewed this long before the provider says it expires.
RENEW_BEFORE_SECONDS = 120


class ConsentNeeded(EchoError):
    """The stored consent no longer works: someone must run ``echodesk connect NAME``."""


class TokenEndpointFailed(EchoError):
    """The provider could not answer now (garbage, a server error, a time-out)."""


@dataclass(frozen=True)
class Endpoints:
    """Where one application asks for tokens and consent, and for which scopes."""

    token_url: str
    device_url: str
    authorize_url: str
    scopes: tuple[str, ...]
    #: Extra parameters of the browser consent (Google returns a refresh token only with them).
    authorize_extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    """What a token endpoint granted; ``refresh_token`` empty when it kept the old one."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str = field(default="", repr=False)


class TokenSource(Protocol):
    """Hands out a current access token; ``renew`` asks for a fresh one (after a refusal)."""

    def access_token(self, *, renew: bool = False) -> str: ...


def endpoints_for(client: OAuthClient) -> Endpoints:
    """The provider's known endpoints and scopes, each replaced by a setting that names one.

    Google's device flow does not grant the mail scope, so Google consents in a browser.
    """
    if client.provider == "microsoft":
        base = _MICROSOFT.format(tenant=client.tenant)
        known = Endpoints(
            base + "token", base + "devicecode", base + "authorize", _MICROSOFT_SCOPES
        )
    elif client.provider == "google":
        known = Endpoints(
            "https://oauth2.googleapis.com/token",
            "",
            "https://accounts.google.com/o/oauth2/v2/auth",
            ("https://mail.google.com/",),
            {"access_type": "offline", "prompt": "consent"},
        )
    else:
        known = Endpoints("", "", "", ())
    return Endpoints(
        client.token_url or known.token_url,
        client.device_url or known.device_url,
        client.authorize_url or known.authorize_url,
        client.scopes or known.scopes,
        known.authorize_extra,
    )


def _session(client: OAuthClient, **kwargs: Any) -> OAuth2Session:
    method = "client_secret_post" if client.client_secret else "none"
    session = OAuth2Session(
        client.client_id,
        client.client_secret or None,
        token_endpoint_auth_method=method,
        scope=" ".join(endpoints_for(client).scopes),
        default_timeout=client.timeout,
        **kwargs,
    )
    session.hooks["response"].append(_no_server_errors)
    return session


def _granted(answer: Any) -> Token:
    """A token endpoint's answer as a :class:`Token`; anything else is the provider's fault."""
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise TokenEndpointFailed("the token endpoint answered without an access token")
    try:
        lifetime = float(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        raise TokenEndpointFailed("the token endpoint answered a bad expires_in") from None
    refresh_token = answer.get("refresh_token")
    return Token(
        answer["access_token"],
        time.time() + min(max(lifetime, 0.0), 366 * 86400.0),
        refresh_token if isinstance(refresh_token, str) else "",
    )


def _asking(what: str, request: Callable[[], Any]) -> Token:
    """Run one token request and sort its failure into consent or weather."""
    try:
        return _granted(request())
    except OAuthError as exc:
        reason = f"{exc.error}: {exc.description or ''}".strip(": ")[:300]
        if exc.error in CONSENT_ERRORS:
            raise ConsentNeeded(f"the provider refused {what} ({reason})") from None
        raise TokenEndpointFailed(f"{what} failed at the provider ({reason})") from None
    except (requests.RequestException, ValueError) as exc:  # time-out, refused, not JSON
        raise TokenEndpointFailed(f"{what} failed ({_weather(exc)})") from None


def _weather(exc: Exception) -> str:
    """Why a provider gave no usable answer, in words (never the request, which holds tokens)."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ValueError):
        return "the answer is not JSON"
    return type(exc).__name__


def _no_server_errors(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A 5xx is the provider's trouble, whatever its body says (authlib would read it as JSON)."""
    if response.status_code >= 500:
        response.raise_for_status()


def refresh(client: OAuthClient, refresh_token: str) -> Token:
    """A new access token for the stored refresh token (the provider may rotate that too)."""
    url = endpoints_for(client).token_url
    with _session(client) as session:
        return _asking(
            "the token refresh", lambda: session.refresh_token(url, refresh_token=refresh_token)
        )


@dataclass(frozen=True)
class DeviceCode:
    """What the person is shown: where to go and which code to type there."""

    verification_uri: str
    user_code: str
    message: str
    device_code: str = field(repr=False)
    interval: float
    expires_at: float


def device_start(client: OAuthClient) -> DeviceCode:
    """Ask the provider for a device code (RFC 8628 §3.1)."""
    ends = endpoints_for(client)
    if not ends.device_url:
        raise ConsentNeeded(f"oauth '{client.name}' has no device_url: consent in a browser")
    data = {"client_id": client.client_id, "scope": " ".join(ends.scopes)}
    try:
        answer = requests.post(ends.device_url, data=data, timeout=client.timeout)
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise TokenEndpointFailed(
            f"the device code request failed ({type(exc).__name__})"
        ) from None
    if not isinstance(body, dict) or "device_code" not in body:
        raise TokenEndpointFailed(f"the device code request failed (HTTP {answer.status_code})")
    uri = str(body.get("verification_uri") or body.get("verification_url") or "")
    return DeviceCode(
        uri,
        str(body.get("user_code", "")),
        str(body.get("message") or f"Open {uri} and enter the code {body.get('user_code')}"),
        str(body["device_code"]),
        float(body.get("interval") or 5),
        time.time() + float(body.get("expires_in") or 900),
    )


def device_finish(
    client: OAuthClient, code: DeviceCode, sleep: Callable[[float], None] = time.sleep
) -> Token:
    """Poll the token endpoint until the person has consented (or refused, or it expired)."""
    url = endpoints_for(client).token_url
    interval = code.interval
    with _session(client) as session:
        while time.time() < code.expires_at:
            sleep(interval)
            try:
                return _granted(
                    session.fetch_token(
                        url, grant_type=DEVICE_CODE_GRANT_TYPE, device_code=code.device_code
                    )
                )
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += 5
                    continue
                raise ConsentNeeded(f"consent not given ({exc.error})") from None
            except (requests.RequestException, ValueError) as exc:
                raise TokenEndpointFailed(
                    f"the consent poll failed ({type(exc).__name__})"
                ) from None
    raise ConsentNeeded("the device code expired before consent was given")


@dataclass(frozen=True)
class BrowserConsent:
    """A browser consent under way: the address to open, and what proves the answer is ours."""

    url: str
    redirect_uri: str
    state: str
    code_verifier: str = field(repr=False)


def browser_start(client: OAuthClient, redirect_uri: str) -> BrowserConsent:
    """The authorization address with PKCE (S256) and a fresh state (RFC 7636)."""
    ends = endpoints_for(client)
    if not ends.authorize_url:
        raise ConsentNeeded(f"oauth '{client.name}' has no authorize_url")
    verifier = secrets.token_urlsafe(48)
    with _session(client, redirect_uri=redirect_uri, code_challenge_method="S256") as session:
        url, state = session.create_authorization_url(
            ends.authorize_url, code_verifier=verifier, **ends.authorize_extra
        )
    return BrowserConsent(url, redirect_uri, state, verifier)


def browser_finish(client: OAuthClient, consent: BrowserConsent, landed: str) -> Token:
    """Trade the code in the address the browser landed on for tokens (state checked)."""
    url = endpoints_for(client).token_url
    with _session(client, redirect_uri=consent.redirect_uri, state=consent.state) as session:
        return _asking(
            "the code exchange",
            lambda: session.fetch_token(
                url, authorization_response=landed, code_verifier=consent.code_verifier
            ),
        )


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google's and Microsoft's mechanism)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str, port: int) -> str:
    """The SASL OAUTHBEARER initial response (RFC 7628 §3.1; RFC 5801 escapes the name)."""
    user = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"


__all__ = [
    "BrowserConsent",
    "ConsentNeeded",
    "DeviceCode",
    "Endpoints",
    "Token",
    "TokenEndpointFailed",
    "TokenSource",
    "browser_finish",
    "browser_start",
    "device_finish",
    "device_start",
    "endpoints_for",
    "oauthbearer",
    "refresh",
    "xoauth2",
]
