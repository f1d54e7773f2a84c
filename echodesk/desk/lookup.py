"""The threader's view of the database (:class:`TicketLookup` over a session)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from echodesk.store import tickets
from echodesk.store.models import Ticket


class SessionLookup:
    """Answers the threader's questions inside the pipeline's transaction.

    Ticket ids come back resolved through merges, so a message that names a
    merged ticket lands in the ticket it was merged into.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def _live(self, ticket_id: int) -> int:
        ticket = self.session.get(Ticket, ticket_id)
        return tickets.resolve_merged(self.session, ticket).id if ticket else ticket_id

    def tickets_by_message_ids(self, ids: Sequence[str]) -> Mapping[str, int]:
        found = tickets.tickets_by_message_ids(self.session, ids)
        return {mid: self._live(tid) for mid, tid in found.items()}

    def tickets_replying_to(self, message_id: str) -> Sequence[int]:
        out: dict[int, None] = {}
        for tid in tickets.tickets_referencing(self.session, message_id):
            out.setdefault(self._live(tid), None)
        return list(out)

    def ticket_by_number(self, number: int) -> int | None:
        ticket = tickets.by_number(self.session, number)
        return tickets.resolve_merged(self.session, ticket).id if ticket else None

    def is_participant(self, ticket_id: int, email: str) -> bool:
        return tickets.is_participant(self.session, ticket_id, email)
