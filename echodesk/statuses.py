"""The statuses a ticket can have, written out once.

They sit at the bottom of the layers, beside :mod:`echodesk.errors`, because
every layer names them: the rules' ``status:`` action and the search
language's ``status:`` operator, the store's counts per status, the web
archive's tabs, the command line's ``--status`` choices. Which status follows
which is the desk's business (:mod:`echodesk.desk.tickets.status`); this module only
says what the statuses are.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


#: Every status, in the order people read them (the archive's tabs, help texts).
STATUSES: tuple[str, ...] = tuple(status.value for status in Status)

#: Work not yet done, neither resolved nor closed: an agent's open tickets.
UNRESOLVED: tuple[str, ...] = (Status.OPEN.value, Status.PENDING.value)

#: A ticket's priorities, lowest first (the rules' ``priority:``, ``#priority``, SLA policies).
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")

#: The ratings a customer may give a ticket's help, best first.
RATINGS: tuple[str, ...] = ("good", "okay", "bad")
