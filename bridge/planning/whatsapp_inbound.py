"""The look-ups for a customer's WhatsApp message: who wrote, from the bridge's own records.

WHMCS's API cannot search clients by phone, so the sender is matched against the phones
the bridge has seen for clients (bridge.store.whatsapp_numbers, filled by the planner from
every notice it plans). Exactly one match: that client, read from WHMCS when its API is
configured. None or several: no client, and the hooks tell staff rather than guess.
"""

from __future__ import annotations

from bridge.core.event_data import Client, EventData, Sender
from bridge.core.events import InboundEvent
from bridge.core.phones import whatsapp_sender
from bridge.planning.enrichment import Enricher
from bridge.store.db import Database
from bridge.store.whatsapp_numbers import clients_for, number_state
from providers.whmcs_api import NotFound, WhmcsApi


class InboundMessageResolver:
    """The planner's resolver for Twilio's `WhatsAppMessage` events."""

    def __init__(self, db: Database, whmcs: WhmcsApi | None) -> None:
        self.db = db
        self.whmcs = whmcs

    def resolve(self, inbound: InboundEvent, needs: frozenset[str]) -> EventData:
        params = inbound.payload.get("params", {})
        number = str(inbound.payload.get("number") or whatsapp_sender(str(params.get("From", ""))) or "")
        if not number:
            return EventData(missing="the message names no WhatsApp sender")
        with self.db.session() as session:
            client_ids = tuple(clients_for(session, number))
            state = number_state(session, number)
        sender = Sender(number=number, client_ids=client_ids, opted_out=bool(state and state.opted_out))
        if not client_ids:
            return EventData(sender=sender, missing=f"no client is known with the number {number}")
        if len(client_ids) > 1:
            return EventData(
                sender=sender, missing=f"the number belongs to {len(client_ids)} clients: {', '.join(client_ids)}"
            )
        if self.whmcs is None:
            return EventData(sender=sender, client=Client(id=client_ids[0]))
        enricher = Enricher(self.whmcs)
        try:
            found = enricher.resolve({"userid": client_ids[0]}, needs & {"client", "contacts"})
        except NotFound as exc:  # the message is not lost for it: staff hear of it instead
            return EventData(sender=sender, missing=str(exc), lookups=tuple(enricher.lookups))
        return EventData(
            sender=sender, client=found.client, contacts=found.contacts, missing=found.missing, lookups=found.lookups
        )
