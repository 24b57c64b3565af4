"""A WhatsApp conversation per number on the delivery log: what the customer wrote and what
the bridge sent them, in time order, the number masked as everywhere else.

A conversation's page is reached from one of its messages (`/log/conversations/<event id>`
of a `WhatsAppMessage` event), so that no phone number is ever part of a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core.events import WHATSAPP_MESSAGE
from bridge.core.masking import Masker, mask_recipient
from bridge.store.models import Action, Event, WhatsAppNumber
from bridge.store.whatsapp_numbers import WINDOW

CUSTOMER_CHANNELS = ("whatsapp", "sms")
LIMIT = 200  # the latest messages each way; older ones stay on their events' pages


@dataclass(frozen=True)
class Line:
    """One message of the conversation: `inbound` from the customer, or sent by the bridge."""

    at: datetime
    inbound: bool
    text: str
    event_id: int
    channel: str = "whatsapp"
    state: str = ""  # of a sent one: sent, delivered, read, failed, skipped...
    template: str = ""  # the ContentSid when it went as an approved template
    media: int = 0


@dataclass(frozen=True)
class Conversation:
    number: str  # masked
    opted_out: bool
    window_open_until: datetime | None
    lines: list[Line]


@dataclass(frozen=True)
class NumberRow:
    number: str  # masked
    last_inbound_at: datetime | None
    opted_out: bool
    latest_event_id: int | None


def numbers(session: Session, limit: int = 100) -> list[NumberRow]:
    """The numbers that wrote to the company, the latest first, each with its newest message."""
    rows = session.scalars(
        select(WhatsAppNumber).order_by(WhatsAppNumber.last_inbound_at.desc().nulls_last()).limit(limit)
    ).all()
    # One query for every listed number's newest message, not one per number: each reads
    # the WhatsApp messages (the `type` index), not the whole history.
    sender = Event.payload["number"].as_string()
    latest: dict[str, int] = {
        number: event_id
        for number, event_id in session.execute(
            select(sender, func.max(Event.id))
            .where(Event.source == "twilio", Event.type == WHATSAPP_MESSAGE, sender.in_([r.number for r in rows]))
            .group_by(sender)
        )
    }
    return [
        NumberRow(mask_recipient(r.number, "whatsapp"), r.last_inbound_at, r.opted_out, latest.get(r.number))
        for r in rows
    ]


def conversation(session: Session, event_id: int) -> Conversation | None:
    """The conversation of the number that sent message `event_id`; None when that event is
    not a customer's WhatsApp message."""
    event = session.get(Event, event_id)
    if event is None or event.type != WHATSAPP_MESSAGE or not isinstance(event.payload.get("number"), str):
        return None
    number = event.payload["number"]
    masker = Masker([number])
    inbound = session.scalars(
        select(Event)
        .where(Event.source == "twilio", Event.type == WHATSAPP_MESSAGE, Event.payload["number"].as_string() == number)
        .order_by(Event.id.desc())
        .limit(LIMIT)
    ).all()
    lines = [_inbound_line(e, masker) for e in inbound]
    sent = session.scalars(
        select(Action)
        .where(Action.recipient == number, Action.channel.in_(CUSTOMER_CHANNELS))
        .order_by(Action.id.desc())
        .limit(LIMIT)
    ).all()
    lines.extend(
        Line(
            at=a.created_at,
            inbound=False,
            text=masker.text(str((a.content or {}).get("body") or "")),
            event_id=a.event_id,
            channel=a.channel,
            state=a.state,
            template=str((a.content or {}).get("content_sid") or ""),
        )
        for a in sent
    )
    state = session.get(WhatsAppNumber, number)
    until = state.last_inbound_at if state else None
    return Conversation(
        number=mask_recipient(number, "whatsapp"),
        opted_out=bool(state and state.opted_out),
        window_open_until=until + WINDOW if until else None,
        lines=sorted(lines, key=lambda line: line.at),
    )


def _inbound_line(event: Event, masker: Masker) -> Line:
    params = event.payload.get("params", {}) if isinstance(event.payload, dict) else {}
    text = str(params.get("Body") or params.get("ButtonText") or "")
    media = str(params.get("NumMedia") or "0")
    return Line(
        at=event.received_at,
        inbound=True,
        text=masker.text(text),
        event_id=event.id,
        media=int(media) if media.isdigit() else 0,
    )
