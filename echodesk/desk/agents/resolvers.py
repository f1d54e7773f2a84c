"""Command lookups read from the database: for ``echodesk do`` and ``#send``.

The mail path checks command lines against what its batch index preloaded
(:class:`~echodesk.desk.agents.plan.IndexResolver`); lines checked outside a
batch (typed on a terminal, or held by the collision guard and sent later)
look the same things up here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from echodesk.desk.agents.plan import Lookups, match_agent
from echodesk.desk.context import DeskContext
from echodesk.store import tickets
from echodesk.store.lookups import AgentRow


class StoreResolver(Lookups):
    """The lookups command checks need, read from the database (the mail path has them
    preloaded in its batch index)."""

    def __init__(
        self,
        session: Session,
        ctx: DeskContext,
        agents: dict[str, AgentRow],
        acting: AgentRow,
        ticket_id: int,
        now: datetime,
    ) -> None:
        super().__init__(ctx.settings, ctx.replies.current(), now)
        self.session = session
        self.agents = agents
        self.acting_agent_id = acting.id
        self.ticket_id = ticket_id

    def agent(self, name: str) -> tuple[int, str] | None:
        found = match_agent(self.agents, name)
        return (found.id, found.email) if found else None

    def ticket(self, label: str) -> tuple[int, int, bool] | None:
        number = self.settings.parse_ticket_label(label)
        found = tickets.by_number(self.session, number) if number is not None else None
        if found is None or number is None:
            return None
        return (found.id, number, found.merged_into_id is not None)


__all__ = ["StoreResolver"]
