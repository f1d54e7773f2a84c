"""Echo checks who sent a message itself: DKIM, SPF and DMARC, as a receiving host does.

The checks are the well-kept libraries' (``dkimpy`` for DKIM, ``pyspf`` for
SPF, ``authheaders`` for DMARC alignment and the Public Suffix List); this
module only wires them to one DNS resolver and turns every way they can fail
into a result: a DNS time-out is ``temperror``, a signature or record that
does not parse is ``permerror`` or ``fail``, and nothing here ever raises or
says ``pass`` for something it could not check. The answer is the value of
an ``Authentication-Results`` header (RFC 8601) under Echo's own authserv-id;
:mod:`echodesk.mailbox.authstamp` puts it on the message.

DNS answers are cached for their TTL (dnspython's own cache), so a busy
receiver asks once per domain and key, not once per message.
"""

from __future__ import annotations

import binascii
import contextvars
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

import authheaders
import authheaders.dmarc_lookup
import dkim
import dns.exception
import dns.resolver
import spf
from authheaders import check_dmarc
from authres import AuthenticationResultsHeader, DKIMAuthenticationResult, SPFAuthenticationResult
from authres.dmarc import DMARCAuthenticationResult

from echodesk.mailbox.authstamp import header_block
from echodesk.mailbox.orgdomain import org_domain

log = logging.getLogger(__name__)

#: More signatures than this on one message are not checked (each costs a DNS query).
MAX_SIGNATURES = 5
#: A header block larger than this is not parsed for signatures (junk, not mail).
MAX_HEADER_BYTES = 256 * 1024


class DnsTimeout(dns.exception.DNSException):
    """The resolver gave no answer in time: a temporary error, never a pass."""


#: When the look-ups of the check in progress must be done (see Resolver.budget).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "echodesk_dns_deadline", default=None
)


class Resolver:
    """TXT/A/AAAA/MX/PTR look-ups through one dnspython resolver with a TTL cache.

    ``server`` is ``""`` for the system's resolver, or ``HOST`` / ``HOST:PORT``
    (an IPv6 address in brackets) to ask that server only.
    """

    def __init__(self, server: str = "", timeout: float = 3.0) -> None:
        if server:
            host, port = _host_port(server)
            self.dns = dns.resolver.Resolver(configure=False)
            self.dns.nameservers = [host]
            self.dns.port = port
        else:
            self.dns = dns.resolver.Resolver()
        self.dns.lifetime = timeout
        self.dns.timeout = min(timeout, 2.0)
        self.dns.cache = dns.resolver.LRUCache(20_000)

    @contextmanager
    def budget(self) -> Iterator[None]:
        """All look-ups inside share one time budget (the resolver's lifetime): a DNS
        server that does not answer costs a message that long, not that long per query."""
        token = _DEADLINE.set(time.monotonic() + float(self.dns.lifetime))
        try:
            yield
        finally:
            _DEADLINE.reset(token)

    def resolve(self, name: str, rdtype: str) -> list[Any]:
        """The records, ``[]`` when there are none; :class:`DnsTimeout` when unanswered."""
        deadline = _DEADLINE.get()
        left = deadline - time.monotonic() if deadline is not None else self.dns.lifetime
        if left <= 0:
            raise DnsTimeout(f"DNS {rdtype} {name}: no time left")  # type: ignore[no-untyped-call]
        try:
            return list(self.dns.resolve(name.rstrip("."), rdtype, search=False, lifetime=left))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.name.EmptyLabel):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            why = f"DNS {rdtype} {name}: {type(exc).__name__}"
            raise DnsTimeout(why) from exc  # type: ignore[no-untyped-call]
        except dns.exception.DNSException as exc:  # a name that cannot be a name, etc.
            log.info("dns lookup %s %s failed: %s", rdtype, name, exc)
            return []

    def txt(self, name: str) -> list[bytes]:
        return [b"".join(r.strings) for r in self.resolve(name, "TXT")]

    def dkim_txt(self, name: bytes | str, timeout: float = 5) -> bytes | str | None:
        """dkimpy asks with a bytes name and wants bytes; authheaders' DMARC asks with
        a str and wants str. ``None`` when there is no record."""
        as_bytes = isinstance(name, bytes)
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        records = self.txt(text)
        if not records:
            return None
        return records[0] if as_bytes else records[0].decode("utf-8", "replace")

    def spf_lookup(self, name: str, qtype: str, *_: Any, **__: Any) -> list[Any]:
        """pyspf's ``DNSLookup`` contract: ``[((name, type), data), ...]``."""
        try:
            if qtype in ("TXT", "SPF"):
                return [((name, qtype), list(r.strings)) for r in self.resolve(name, "TXT")]
            answers = self.resolve(name, qtype)
        except DnsTimeout as exc:
            raise spf.TempError(str(exc)) from exc
        if qtype in ("A", "AAAA"):
            return [((name, qtype), r.address) for r in answers]
        if qtype == "MX":
            return [((name, qtype), (r.preference, r.exchange)) for r in answers]
        if qtype == "PTR":
            return [((name, qtype), r.target.to_text(True)) for r in answers]
        return []


def _host_port(server: str) -> tuple[str, int]:
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    host, sep, port = server.rpartition(":")
    if sep and host and ":" not in host:
        return host, int(port)
    return server, 53


# pyspf looks names up through a module-level function with no resolver argument:
# route it to the resolver of the check in progress (a context variable, so
# threads checking at once each use their own).
_SPF_RESOLVER: contextvars.ContextVar[Resolver | None] = contextvars.ContextVar(
    "echodesk_spf_resolver", default=None
)
_SPF_DEFAULT: Callable[..., Any] = spf.DNSLookup


def _spf_dns(name: str, qtype: str, *args: Any, **kwargs: Any) -> Any:
    resolver = _SPF_RESOLVER.get()
    if resolver is None:
        return _SPF_DEFAULT(name, qtype, *args, **kwargs)
    return resolver.spf_lookup(name, qtype)


spf.DNSLookup = _spf_dns


@contextmanager
def _spf_through(resolver: Resolver) -> Iterator[None]:
    token = _SPF_RESOLVER.set(resolver)
    try:
        yield
    finally:
        _SPF_RESOLVER.reset(token)


@dataclass(frozen=True)
class Connection:
    """What the receiving side knew of the sender (SPF needs all three)."""

    ip: str = ""
    mail_from: str = ""
    helo: str = ""


class Authenticator:
    """Checks messages under one authserv-id with one resolver."""

    def __init__(self, authserv_id: str, resolver: Resolver) -> None:
        self.authserv_id = authserv_id
        self.resolver = resolver

    def check(self, raw: bytes, conn: Connection | None) -> str:
        """The ``Authentication-Results`` value for ``raw`` (SPF only with a connection)."""
        results: list[Any] = []
        with self.resolver.budget():
            spf_result = self._spf(conn) if conn is not None and conn.ip else None
            if spf_result is not None:
                results.append(spf_result)
            dkim_results = self._dkim(raw)
            results += dkim_results
            results.append(self._dmarc(raw, spf_result, dkim_results))
        header = AuthenticationResultsHeader(authserv_id=self.authserv_id, results=results)
        return str(header).partition(":")[2].strip()

    def _spf(self, conn: Connection) -> SPFAuthenticationResult:
        mail_from = conn.mail_from or f"postmaster@{conn.helo}"
        try:
            with _spf_through(self.resolver):
                query = spf.query(conn.ip, mail_from, conn.helo or "unknown", timeout=10)
                result, _, reason = query.check()
        except Exception as exc:  # noqa: BLE001 - a bad address or record is an error, not a crash
            result, reason = "permerror", f"{type(exc).__name__}"
        return SPFAuthenticationResult(
            result=str(result), reason=str(reason)[:200], smtp_mailfrom=mail_from
        )

    def _dkim(self, raw: bytes) -> list[DKIMAuthenticationResult]:
        """Every signature (a few at most), each pass, fail, permerror or temperror."""
        head = header_block(raw[:MAX_HEADER_BYTES])
        count = sum(1 for name in _header_names(head) if name == b"dkim-signature")
        if count == 0:
            return [DKIMAuthenticationResult(result="none")]
        return [self._one_signature(raw, idx) for idx in range(min(count, MAX_SIGNATURES))]

    def _one_signature(self, raw: bytes, idx: int) -> DKIMAuthenticationResult:
        domain = selector = ""
        try:
            signer = dkim.DKIM(raw, minkey=1024, timeout=self.resolver.dns.lifetime)
            signer.verify_headerprep(idx)  # the signature header itself must parse
        except Exception:  # noqa: BLE001 - dkimpy refuses junk with many exception types
            return DKIMAuthenticationResult(result="permerror")
        domain = _ascii(signer.signature_fields.get(b"d", b""))
        selector = _ascii(signer.signature_fields.get(b"s", b""))
        try:
            result = "pass" if self._signature_holds(signer, idx, selector, domain) else "fail"
        except dns.exception.DNSException:
            result = "temperror"
        except (dkim.KeyFormatError, binascii.Error):
            result = "permerror"  # no key, or a key record that is garbage
        except Exception:  # noqa: BLE001 - a body hash mismatch, a key too short, ...
            result = "fail"
        return DKIMAuthenticationResult(
            result=result, header_d=domain[:253] or None, header_s=selector[:63] or None
        )

    def _signature_holds(self, signer: Any, idx: int, selector: str, domain: str) -> bool:
        """Whether the signature verifies; raises when its key cannot be read.

        dkimpy itself logs a key it cannot read and says "fail": on a failure the
        key is read once more (from the cache), so that case is an error instead.
        """
        if signer.verify(idx=idx, dnsfunc=self.resolver.dkim_txt):
            return True
        name = f"{selector}._domainkey.{domain}".encode()
        dkim.load_pk_from_dns(name, self.resolver.dkim_txt, self.resolver.dns.lifetime)
        return False

    def _dmarc(
        self,
        raw: bytes,
        spf_result: SPFAuthenticationResult | None,
        dkim_results: list[DKIMAuthenticationResult],
    ) -> DMARCAuthenticationResult:
        """DMARC for the From domain, fed the aligned DKIM pass if there is one."""
        from_domain = _from_domain(raw)
        chosen = _aligned(dkim_results, from_domain)
        try:
            result: DMARCAuthenticationResult = check_dmarc(
                raw, spf_result, chosen, dnsfunc=self.resolver.dkim_txt
            )
        except dns.exception.DNSException:
            return DMARCAuthenticationResult(result="temperror", header_from=from_domain or None)
        except Exception:  # noqa: BLE001 - a From or record that does not parse
            return DMARCAuthenticationResult(result="permerror", header_from=from_domain or None)
        checked = [r.result for r in dkim_results] + ([spf_result.result] if spf_result else [])
        if result.result == "fail" and "temperror" in checked:
            return DMARCAuthenticationResult(
                result="temperror", header_from=result.header_from, policy=result.policy
            )
        return result


def _aligned(
    results: list[DKIMAuthenticationResult], from_domain: str
) -> DKIMAuthenticationResult | None:
    """The signature DMARC should look at: an aligned pass, else any pass, else the first."""
    if not results or results[0].result == "none":
        return None
    passed = [r for r in results if r.result == "pass"]
    org = _org(from_domain)
    for r in passed:
        if r.header_d and _org(str(r.header_d)) == org:
            return r
    return passed[0] if passed else results[0]


def _org(domain: str) -> str:
    return org_domain(domain)


authheaders.get_org_domain = org_domain
authheaders.dmarc_lookup.get_org_domain = org_domain


def _ascii(value: bytes) -> str:
    return value.decode("ascii", "replace").strip()


def _header_names(head: bytes) -> Iterator[bytes]:
    for line in head.splitlines():
        if not line.strip():
            return
        if line[:1] in (b" ", b"\t"):
            continue
        name, sep, _ = line.partition(b":")
        if sep:
            yield name.strip().lower()


def _from_domain(raw: bytes) -> str:
    head = header_block(raw[:MAX_HEADER_BYTES])
    values = []
    current: list[bytes] | None = None
    for line in head.splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        current = None
        name, sep, rest = line.partition(b":")
        if sep and name.strip().lower() == b"from":
            current = [rest]
            values.append(current)
    if not values:
        return ""
    text = b" ".join(values[0]).decode("utf-8", "replace")
    addresses = getaddresses([text])
    email = addresses[0][1] if addresses else ""
    return email.rpartition("@")[2].strip().lower()


__all__ = ["Authenticator", "Connection", "DnsTimeout", "Resolver"]
