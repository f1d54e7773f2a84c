"""Reading ``Authentication-Results`` (RFC 8601): did the sender's domain fail DKIM or SPF?

The receiving mail server records what it checked in this header. Echo uses
it only to refuse: an agent's reply whose From domain *failed* DKIM, SPF or
DMARC is never executed, whatever signature it carries. Refusing on a header
is safe even if a forger wrote the header himself (he can only stop his own
mail); trusting a ``pass`` would not be. With ``trusted`` authserv-ids given,
only headers added by those hosts count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_COMMENT_RE = re.compile(r"\([^()]{0,300}\)")
_RESULT_RE = re.compile(
    r"^\s*([a-z][a-z0-9_-]{0,30})\s*=\s*([a-z]{1,20})\b(.{0,1000})$", re.I | re.S
)
_PROP_RE = re.compile(r"\b(header\.[a-z]{1,4}|smtp\.[a-z]{1,10})\s*=\s*([^\s;]{1,300})", re.I)
_CHECKED = ("dkim", "spf", "dmarc")


@dataclass(frozen=True)
class Result:
    authserv_id: str
    method: str
    result: str
    domains: tuple[str, ...]


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
        domains = tuple(_domain(v) for _, v in _PROP_RE.findall(match.group(3)))
        out.append(Result(authserv, match.group(1).lower(), match.group(2).lower(), domains))
    return out


def _about(result: Result, domain: str) -> bool:
    """Whether a result concerns ``domain`` (or names no domain at all)."""
    if not result.domains:
        return True
    return any(
        d == domain or domain.endswith("." + d) or d.endswith("." + domain) for d in result.domains
    )


def failures(headers: Iterable[str], from_domain: str, trusted: Sequence[str] = ()) -> list[str]:
    """``["dkim=fail", ...]``: checks the From domain failed (a pass for it outweighs)."""
    domain = from_domain.lower()
    wanted = {t.lower() for t in trusted}
    results = [
        r
        for value in headers
        for r in parse(value)
        if r.method in _CHECKED and (not wanted or r.authserv_id in wanted) and _about(r, domain)
    ]
    failed = []
    for method in _CHECKED:
        mine = [r.result for r in results if r.method == method]
        if "fail" in mine and "pass" not in mine:
            failed.append(f"{method}=fail")
    return failed


def passes(headers: Iterable[str], from_domain: str, trusted: Sequence[str]) -> list[str]:
    """``["dkim=pass", ...]`` from trusted hosts only (a forger can write a pass himself)."""
    if not trusted:
        return []
    domain = from_domain.lower()
    wanted = {t.lower() for t in trusted}
    found = {
        f"{r.method}=pass"
        for value in headers
        for r in parse(value)
        if r.method in _CHECKED
        and r.result == "pass"
        and r.authserv_id in wanted
        and r.domains
        and _about(r, domain)
    }
    return sorted(found)
