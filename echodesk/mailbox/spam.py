"""The spam verdict a filter upstream (SpamAssassin, rspamd, a provider) left in the headers.

Echo does not score mail itself: the mail server in front of it does, and
writes ``X-Spam-Score: 7.3``, ``X-Spam-Status: Yes, score=7.3 required=5.0``
or ``X-Spam-Flag: YES``. Mail above the threshold is quarantined, never
dropped: an operator can release it.
"""

from __future__ import annotations

import re

from echodesk.mailbox.message import ParsedMessage

_NUMBER_RE = re.compile(r"^\s*([+-]?\d{1,6}(?:\.\d{1,6})?)")
_STATUS_SCORE_RE = re.compile(r"\b(?:score|hits)\s*=\s*([+-]?\d{1,6}(?:\.\d{1,6})?)", re.I)


def spam_score(msg: ParsedMessage, extra_header: str = "") -> float | None:
    """The highest score any known header gives, or None if none gives one."""
    scores: list[float] = []
    for name in ("x-spam-score", *((extra_header.lower(),) if extra_header else ())):
        for value in msg.headers.get(name, ()):
            match = _NUMBER_RE.match(value)
            if match:
                scores.append(float(match.group(1)))
    for value in msg.headers.get("x-spam-status", ()):
        match = _STATUS_SCORE_RE.search(value)
        if match:
            scores.append(float(match.group(1)))
    return max(scores) if scores else None


def spam_reason(msg: ParsedMessage, threshold: float, extra_header: str = "") -> str:
    """Why the headers say this is spam ("" when they do not)."""
    if msg.header("x-spam-flag").strip().lower() in ("yes", "true"):
        return "X-Spam-Flag: YES"
    score = spam_score(msg, extra_header)
    if score is not None and score > threshold:
        return f"spam score {score:g} above {threshold:g}"
    return ""
