"""What evaluation reads: one message as the rules see it, and the installation's context.

Both are plain frozen values handed in by the caller: the rules never look at
the clock, the database or the settings file themselves, so evaluating the
same facts twice always gives the same decision (and ``rules test`` can replay
any moment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from echodesk.errors import RuleError
from echodesk.mailbox.message import ParsedMessage
from echodesk.rules.clock import ClockError, parse_business_hours

HEADER_NAME = re.compile(r"[!-9;-~]{1,100}")  # RFC 5322 field name: printable ASCII but ':'


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; RuleError if there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise RuleError(f"timezone: unknown IANA time zone '{name}'") from exc


@dataclass(frozen=True)
class RulesContext:
    """The installation's side of evaluation: where and when "business hours" are.

    ``business_hours`` is ``DAYS HH:MM-HH:MM`` spans separated by commas, e.g.
    ``mon-fri 09:00-17:00, sat 10:00-14:00`` (see :mod:`echodesk.rules.clock`).
    ``spam_headers`` are read in order for ``spam_score``. Every value is checked
    when the context is built, so a wrong setting stops start-up with a RuleError.
    """

    timezone: str = "UTC"
    business_hours: str = "mon-fri 09:00-17:00"
    spam_headers: tuple[str, ...] = ("x-spam-score", "x-spam-status", "x-spam-flag")

    def __post_init__(self) -> None:
        zone(self.timezone)
        try:
            parse_business_hours(self.business_hours)
        except ClockError as exc:
            raise RuleError(f"business_hours: {exc}") from exc
        bad = [h for h in self.spam_headers if not HEADER_NAME.fullmatch(h)]
        if bad:
            raise RuleError(f"spam_headers: not a header name: {', '.join(map(repr, bad))}")


@dataclass(frozen=True)
class Facts:
    """One message at one moment: ``now`` should be timezone-aware (naive counts as UTC)."""

    msg: ParsedMessage
    event: str  # "new_ticket" | "customer_reply"
    now: datetime
    customer_tickets_24h: int = 0
