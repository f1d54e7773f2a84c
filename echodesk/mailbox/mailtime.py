"""When a message was written, in its own terms, as far as the mail itself can say.

Echo counts some things by time: how many tickets a sender opened in the last
24 hours (the flood limit, ``customer_tickets_24h`` in rules). Counted by the
moment Echo processes the mail, a replayed history (``echodesk ingest`` of
months of a support mailbox) looks like one sender writing twenty times in a
minute. Counted by the mail's own ``Date`` alone, a sender could place a
message anywhere in time. So the mail's time is its ``Date``, clamped between
the oldest ``Received`` stamp (a Date before the first relay took the message
is a wrong clock) and the moment it reached Echo, and never in the future.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from datetime import UTC, datetime


def read_date(value: str) -> datetime | None:
    """An RFC 5322 date as an aware UTC time; None when it cannot be read or placed.

    A date without a zone is taken as UTC (what the header means by ``-0000``).
    """
    try:
        when = email.utils.parsedate_to_datetime(" ".join(value.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def received_time(value: str) -> datetime | None:
    """The date a ``Received`` header was stamped with (after its last ';'), or None."""
    _, sep, stamp = value.rpartition(";")
    return read_date(stamp) if sep else None


def oldest_received(values: Iterable[str]) -> datetime | None:
    """The earliest readable ``Received`` stamp: when the first relay took the message."""
    stamps = [t for v in values if (t := received_time(v)) is not None]
    return min(stamps) if stamps else None


def mail_time(
    date: datetime | None,
    first_received: datetime | None,
    arrived: datetime | None,
    now: datetime,
) -> datetime:
    """The message's own time: ``Date`` clamped to [first relay, arrival], never after now.

    Without a ``Date`` the first relay's stamp stands in, and without either
    the moment the message reached Echo. A first relay stamp later than the
    arrival (a relay's clock ahead) is ignored rather than trusted over Echo's.
    """
    latest = min(arrived, now) if arrived is not None else now
    earliest = first_received if first_received is not None and first_received <= latest else None
    when = date or earliest or latest
    if earliest is not None and when < earliest:
        when = earliest
    return min(when, latest)
