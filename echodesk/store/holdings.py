"""What the store holds about one person, for answering a data-subject access request."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from echodesk.store.lookups import chunks
from echodesk.store.models import Attachment, Customer, Message, Ticket


def customer(session: Session, address: str) -> Customer | None:
    """The customer with this address (compared without case)."""
    stmt = select(Customer).where(func.lower(Customer.email) == address.strip().lower())
    return session.scalars(stmt).first()


def tickets_of(session: Session, customer_id: int) -> list[Ticket]:
    """The tickets the customer opened, by number."""
    stmt = select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.number)
    return list(session.scalars(stmt))


def message_ids(session: Session, ticket_id: int) -> list[int]:
    """The ticket's message ids, oldest first (the order reports list them in)."""
    stmt = select(Message.id).where(Message.ticket_id == ticket_id).order_by(Message.id)
    return list(session.scalars(stmt))


def messages_from(session: Session, address: str) -> list[Message]:
    """Every message sent from this address (compared without case), oldest first."""
    wanted = address.strip().lower()
    stmt = select(Message).where(func.lower(Message.from_email) == wanted).order_by(Message.id)
    return list(session.scalars(stmt))


def storage_keys(session: Session, message_pks: Sequence[int]) -> dict[int, list[str]]:
    """Each message's attachments' storage keys, in the order reports lists them."""
    out: dict[int, list[str]] = {}
    for chunk in chunks(message_pks):
        rows = session.execute(
            select(Attachment.message_pk, Attachment.storage_key)
            .where(Attachment.message_pk.in_(chunk))
            .order_by(Attachment.id)
        )
        for pk, key in rows:
            out.setdefault(pk, []).append(key or "")
    return out
