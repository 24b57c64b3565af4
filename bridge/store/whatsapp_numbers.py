"""What the bridge knows of WhatsApp numbers: the 24-hour window, consent, which WHMCS
clients a number belongs to, and its conversations with their tickets
(bridge.store.models.WhatsAppNumber, KnownPhone, WhatsAppConversation).

Every write is one statement that settles its own race in the database: the window keeps
the latest message time whichever process writes last, a phone seen twice for a client is
one row, a consent change is the newest one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bridge.store.models import KnownPhone, WhatsAppConversation, WhatsAppNumber

# WhatsApp's customer service window: free-form messages only this long after the
# customer's last message (Twilio answers 63016 outside it).
WINDOW = timedelta(hours=24)


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def open_window(session: Session, number: str, at: datetime) -> None:
    """The customer wrote at `at`: their window runs 24 hours from then (a later message
    already recorded keeps its own, later time)."""
    insert = _insert(session)(WhatsAppNumber).values(
        number=number, last_inbound_at=at, opted_out=False, consent_keyword=""
    )
    column = WhatsAppNumber.__table__.c.last_inbound_at
    statement = insert.on_conflict_do_update(
        index_elements=["number"],
        set_={
            "last_inbound_at": case(
                (column.is_(None), insert.excluded.last_inbound_at),
                (column < insert.excluded.last_inbound_at, insert.excluded.last_inbound_at),
                else_=column,
            )
        },
    )
    session.execute(statement)


def set_consent(session: Session, number: str, *, opted_out: bool, keyword: str, at: datetime) -> None:
    """The customer opted out of (or back into) WhatsApp messages with `keyword`."""
    insert = _insert(session)(WhatsAppNumber).values(
        number=number, opted_out=opted_out, consent_changed_at=at, consent_keyword=keyword[:32]
    )
    statement = insert.on_conflict_do_update(
        index_elements=["number"],
        set_={"opted_out": opted_out, "consent_changed_at": at, "consent_keyword": keyword[:32]},
    )
    session.execute(statement)


def number_state(session: Session, number: str) -> WhatsAppNumber | None:
    return session.get(WhatsAppNumber, number)


def window_open(state: WhatsAppNumber | None, now: datetime) -> bool:
    """Whether a free-form message to this number would be delivered now."""
    return bool(state and state.last_inbound_at and now - state.last_inbound_at < WINDOW)


def remember_phone(session: Session, number: str, client_id: str) -> None:
    """The bridge saw `number` as a phone of WHMCS client `client_id` (once per pair)."""
    statement = (
        _insert(session)(KnownPhone)
        .values(number=number, client_id=client_id)
        .on_conflict_do_nothing(index_elements=["number", "client_id"])
    )
    session.execute(statement)


def clients_for(session: Session, number: str) -> list[str]:
    """Every WHMCS client the bridge has seen with this phone number, oldest first."""
    return list(
        session.scalars(select(KnownPhone.client_id).where(KnownPhone.number == number).order_by(KnownPhone.id))
    )


# -- conversations ------------------------------------------------------------------------


def current_conversation(session: Session, number: str, now: datetime) -> WhatsAppConversation | None:
    """The number's conversation still going on: its last message either way less than 24
    hours ago (whether its ticket is still open is WHMCS's to say)."""
    return session.scalar(
        select(WhatsAppConversation)
        .where(WhatsAppConversation.number == number, WhatsAppConversation.last_message_at > now - WINDOW)
        .order_by(WhatsAppConversation.id.desc())
        .limit(1)
    )


def conversation_of_ticket(session: Session, ticket_id: str) -> WhatsAppConversation | None:
    """The WhatsApp conversation that opened this WHMCS ticket, if one did."""
    return session.scalar(
        select(WhatsAppConversation)
        .where(WhatsAppConversation.ticket_id == ticket_id)
        .order_by(WhatsAppConversation.id.desc())
        .limit(1)
    )


def touch_conversation(session: Session, conversation_id: int, at: datetime) -> None:
    """A message went either way: the conversation lasts 24 hours from `at` (never less)."""
    session.execute(
        update(WhatsAppConversation)
        .where(WhatsAppConversation.id == conversation_id, WhatsAppConversation.last_message_at < at)
        .values(last_message_at=at)
    )
