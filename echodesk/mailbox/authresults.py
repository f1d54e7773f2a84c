"""Reading ``Authentication-Results`` (RFC 8601): what a receiving host found.

Only headers written under an authserv-id the caller trusts are read (Echo's
own, and those of ``trusted_authserv_ids``); by the time a message is read
here, :mod:`echodesk.mailbox.authstamp` has removed the ones that cannot be
genuine. Results for one method disagree when several hosts checked: a
failure then wins over a pass, so one honest host saying ``fail`` is enough.
The policy built on these results lives in :mod:`echodesk.mailbox.trust`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from echodesk.mailbox.orgdomain import aligned

_COMMENT_RE = re.compile(r"\([^()]{0,300}\)")
_RESULT_RE = re.compile(
    r"^\s*([a-z][a-z0-9_-]{0,30})\s*=\s*([a-z]{1,20})\b(.{0,1000})$", re.I | re.S
)
_PROP_RE = re.compile(
    r"\b(header\.[a-z]{1,4}|smtp\.[a-z]{1,10}|policy\.[a-z]{1,10})\s*=\s*([^\s;]{1,300})", re.I
)
CHECKED = ("dkim", "spf", "dmarc")
#: When hosts disagree about one method: the first of these found wins.
_PRECEDENCE = ("fail", "softfail", "pass", "temperror", "permerror", "neutral", "policy", "none")


@dataclass(frozen=True)
class Result:
    authserv_id: str
    method: str
    result: str
    domains: tuple[str, ...]
    #: ``policy.dmarc`` of a DMARC result ('' when the host did not say).
    policy: str = ""


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip().strip("<>\"'").lower()


def parse(value: str) -> list[Result]:
    """The method results of one header value (comments dropped; junk ignored)."""
    text = value[:4000]
    for _ in range(3):  # nested comments, a few levels at most
        text = _COMMENT_RE.sub(" ", text)
    parts = text.split(";")
    authserv = parts[0].split()[0].lower() if parts[0].split() else ""
    out = []
    for part in parts[1:]:
        match = _RESULT_RE.match(part)
        if match is None:
            continue
        props = _PROP_RE.findall(match.group(3))
        domains = tuple(_domain(v) for k, v in props if not k.lower().startswith("policy."))
        policy = next((v.lower() for k, v in props if k.lower() == "policy.dmarc"), "")
        out.append(
            Result(authserv, match.group(1).lower(), match.group(2).lower(), domains, policy)
        )
    return out


def _about(result: Result, domain: str) -> bool:
    """Whether a result concerns ``domain``: its own, a parent or a sub-domain of it.

    SPF is about the envelope sender, not the From domain, and is kept whatever
    domain it names (DMARC, which relates the two, speaks for alignment).
    """
    if result.method == "spf" or not result.domains:
        return True
    return any(aligned(d, domain) for d in result.domains)


@dataclass(frozen=True)
class Summary:
    """One result per method for a From domain, as all counted hosts found it."""

    dkim: str = "none"
    spf: str = "none"
    dmarc: str = "none"
    #: The DMARC policy the domain publishes, where a host said ('' unknown).
    policy: str = ""
    #: Which hosts spoke, for explanations.
    hosts: tuple[str, ...] = ()

    def text(self) -> str:
        """``dkim=pass spf=none dmarc=pass (p=reject)``: for notices and the archive."""
        policy = f" (p={self.policy})" if self.policy else ""
        return f"dkim={self.dkim} spf={self.spf} dmarc={self.dmarc}{policy}"


def summarize(headers: Iterable[str], from_domain: str, counted: Iterable[str]) -> Summary:
    """What the hosts in ``counted`` found about mail from ``from_domain``."""
    domain = from_domain.lower()
    wanted = {c.lower() for c in counted if c}
    results = [
        r
        for value in headers
        for r in parse(value)
        if r.method in CHECKED and r.authserv_id in wanted and _about(r, domain)
    ]

    def combined(method: str) -> str:
        found = {r.result for r in results if r.method == method}
        return next((p for p in _PRECEDENCE if p in found), "none")

    policies = [r.policy for r in results if r.method == "dmarc" and r.policy]
    hosts = tuple(dict.fromkeys(r.authserv_id for r in results))
    policy = min(policies, default="")
    return Summary(combined("dkim"), combined("spf"), combined("dmarc"), policy, hosts)


__all__ = ["CHECKED", "Result", "Summary", "parse", "summarize"]
