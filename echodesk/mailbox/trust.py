"""Who sent a message, as far as Echo can tell: the one place that decides it.

Every path that acts on a sender's word asks here, and nowhere else:

- :func:`agent_refusal` — may this agent's mail run commands? Only with
  DMARC ``pass`` (or a DKIM pass aligned with the From domain) from Echo
  itself or a trusted host, and no failure; ``agent_auth: signature-only``
  accepts mail that merely does not fail (a forged From with a stolen signed
  reply address is then enough: the setting exists for installations whose
  mail nobody can check).
- :attr:`SenderCheck.verified` — may Echo write to an address that has never
  written to it (``#new``), on this mail's word? Only when verified.
- :attr:`SenderCheck.unverified` — customer mail whose From domain fails
  DMARC with a ``reject`` or ``quarantine`` policy (or one a host did not
  name), or fails DKIM and SPF both. It may open a ticket, but never joins
  one by its subject tag and never adds people from ``Cc``; the archive and
  the agents' notifications mark it.

Results come only from Echo's own Authentication-Results header and those of
``trusted_authserv_ids`` (see :mod:`echodesk.mailbox.authresults`).
"""

from __future__ import annotations

from dataclasses import dataclass

from echodesk.config import Settings
from echodesk.mailbox.authresults import Summary, summarize
from echodesk.mailbox.message import ParsedMessage

PASS, FAIL, UNKNOWN = "pass", "fail", "none"
_STRICT_POLICIES = ("reject", "quarantine", "")


@dataclass(frozen=True)
class SenderCheck:
    """Whether the From address is the sender's own: pass, fail, or none (can't tell)."""

    state: str
    summary: Summary
    #: Echo's own Authentication-Results value for the message ('' if it did not check).
    results: str = ""

    @property
    def verified(self) -> bool:
        return self.state == PASS

    @property
    def unverified(self) -> bool:
        return self.state == FAIL

    @property
    def why(self) -> str:
        hosts = ", ".join(self.summary.hosts) or "no receiving host"
        return f"{self.summary.text()} (from {hosts})"


def _state(summary: Summary) -> str:
    s = summary
    if s.dmarc == "fail" and s.policy in _STRICT_POLICIES:
        return FAIL
    if s.dkim == "fail" and s.spf in ("fail", "softfail"):
        return FAIL
    if "fail" in (s.dkim, s.dmarc):
        return UNKNOWN
    if s.dmarc == "pass" or s.dkim == "pass":
        return PASS
    return UNKNOWN


def counted_hosts(settings: Settings) -> tuple[str, ...]:
    """Whose Authentication-Results count: Echo's own and the trusted hosts'."""
    return (settings.own_authserv_id, *(t.lower() for t in settings.trusted_authserv_ids))


def check_sender(msg: ParsedMessage, settings: Settings) -> SenderCheck:
    """What Echo and the trusted hosts found about the From domain of ``msg``."""
    if msg.from_ is None:
        return SenderCheck(UNKNOWN, Summary())
    headers = msg.headers.get("authentication-results", ())
    summary = summarize(headers, msg.from_.domain, counted_hosts(settings))
    own = settings.own_authserv_id
    mine = next((h for h in headers if h.split(";", 1)[0].strip().lower() == own), "")
    return SenderCheck(_state(summary), summary, " ".join(mine.split())[:2000])


def failures(check: SenderCheck) -> list[str]:
    """``["dkim=fail", ...]``: what a counted host found failing for the sender's domain.

    Any of these refuses an agent's mail outright, whatever it carries. An SPF
    failure counts only when nothing else vouches for the domain: mail that
    passes DMARC (or aligned DKIM) was often only forwarded by another server.
    """
    s = check.summary
    spf = s.spf if "pass" not in (s.dkim, s.dmarc) else "none"
    results = (("dkim", s.dkim), ("spf", spf), ("dmarc", s.dmarc))
    return [f"{method}=fail" for method, result in results if result == "fail"]


def agent_refusal(check: SenderCheck, settings: Settings) -> str:
    """Why an agent's signed reply may not run commands ('' when it may)."""
    failed = failures(check)
    if failed:
        return f"the sender's domain failed {', '.join(failed)}"
    if check.verified or settings.agent_auth == "signature-only":
        return ""
    return (
        "the sender could not be verified (no DMARC or aligned DKIM pass from Echo or a "
        f"trusted host: {check.why})"
    )


__all__ = [
    "FAIL",
    "PASS",
    "UNKNOWN",
    "SenderCheck",
    "agent_refusal",
    "check_sender",
    "failures",
]
