"""The planner: the executor of the `plan` channel, the first Action of every event. It
looks up what the event's hooks need (bridge.planning.enrichment), runs the hooks, and returns the
Actions they planned as the result's follow-ups, which the Deliverer stores (as it does any
executor's) in the same transaction that marks the planning done.

Planning runs in a worker, not in the webhook request: WHMCS waits for the webhook's
answer, and the look-ups can be slow or fail; here they are retried like any send.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace

from bridge.core.actions import PLAN_CHANNEL, PlannedAction
from bridge.core.catalog import Catalog
from bridge.core.event_data import EventData
from bridge.core.event_fields import EventShapeError
from bridge.core.events import InboundEvent
from bridge.core.phones import whatsapp_number
from bridge.core.settings import Settings
from bridge.planning.direct_debit import DirectDebitResolver
from bridge.planning.enrichment import Enricher
from bridge.planning.whatsapp_inbound import InboundMessageResolver
from bridge.store.db import Database
from bridge.store.debit_standing import debit_standing
from bridge.store.models import Action, Event
from bridge.store.search import looked_up_words
from bridge.store.templates import usable_templates
from bridge.store.whatsapp_numbers import conversation_of_ticket, remember_phone
from bridge.work.executors import Executed
from hooks import HookContext, HookRegistry
from providers.base import ProviderError
from providers.pagos360 import Pagos360Api
from providers.whmcs_api import WhmcsApi

log = logging.getLogger(__name__)


def plan_actions(registry: HookRegistry, context: HookContext) -> list[tuple[str, PlannedAction]]:
    """Run every handler for the event, lowest priority first.

    A handler that raises does not lose the event: its failure becomes a failed Action
    named after it, visible on the log page, and the other handlers still run. A field
    of the wrong shape is the event's fault, not the handler's: one line, no traceback.
    """
    planned: list[tuple[str, PlannedAction]] = []
    for name, handler in registry.handlers_for(context.event.type):
        try:
            planned.extend((name, action) for action in handler(context))
        except EventShapeError as exc:
            log.warning("hook %s refused the %s event: %s", name, context.event.type, exc)
            planned.append((name, PlannedAction("hook", name, {}, skip_reason=f"hook error: {exc}")))
        except Exception as exc:
            log.exception("hook %s failed on %s event", name, context.event.type)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            planned.append((name, PlannedAction("hook", name, {}, skip_reason=f"hook error: {detail}")))
    return planned


# How the planner looks up what an event's handlers need: one function per event source,
# given the event and the needs, returning what was found. A source with no entry is read
# as a WHMCS hook (its `params`), looked up through WHMCS's API.
Resolve = Callable[[InboundEvent, frozenset[str]], EventData]


class Planner:
    """The `plan` executor (bridge.work.executors.Executor). Plannings are not paced: their
    look-ups ask WHMCS and Pagos360, which set no send rate here.

    `resolvers` is the table of look-ups by event source (see `Resolve`); `resolvers_for`
    builds the bridge's own."""

    channel = PLAN_CHANNEL
    rate_key = None
    per_second = None

    def __init__(
        self,
        db: Database,
        registry: HookRegistry,
        catalog: Catalog,
        settings: Settings,
        whmcs: WhmcsApi | None,
        resolvers: Mapping[str, Resolve],
    ) -> None:
        self.db = db
        self.registry = registry
        self.catalog = catalog
        self.settings = settings
        self.whmcs = whmcs
        self.resolvers = resolvers

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        return self.plan(action)

    def plan(self, action: Action) -> Executed:
        """Raises ProviderError when a WHMCS look-up fails (NotFound: the client is gone),
        and a permanent one when a field the look-ups read has the wrong shape (retrying
        would read the same event again)."""
        try:
            return self._plan(action)
        except EventShapeError as exc:
            raise ProviderError(str(exc), permanent=True) from exc

    def _whmcs_hook(self, inbound: InboundEvent, needs: frozenset[str]) -> EventData:
        # A new Enricher per event: it asks WHMCS each thing at most once per event.
        data = Enricher(self.whmcs).resolve(inbound.payload.get("params", {}), needs)
        if "debit_standing" in needs and data.client is not None:
            with self.db.session() as session:
                standing = debit_standing(session, data.client.id, data.invoice.id if data.invoice else None)
            data = replace(data, debit_standing=standing)
        if data.ticket is None:
            return data
        # Whether a WhatsApp conversation opened the ticket is the bridge's own record.
        with self.db.session() as session:
            conversation = conversation_of_ticket(session, data.ticket.id)
            if conversation is None:
                return data
            ticket = replace(data.ticket, whatsapp_number=conversation.number, conversation_id=conversation.id)
        return replace(data, ticket=ticket)

    def _remember(self, client_id: str, numbers: list[str]) -> None:
        """The client's WhatsApp numbers, for matching their own messages to them later."""
        if not numbers:
            return
        with self.db.session() as session:
            for number in dict.fromkeys(numbers):
                remember_phone(session, number, client_id)
            session.commit()

    def _plan(self, action: Action) -> Executed:
        with self.db.session() as session:
            event = session.get_one(Event, action.event_id)
            inbound = InboundEvent(event.source, event.type, event.external_id, event.payload, event.client_id)
            templates = usable_templates(session, dry_run=not self.settings.twilio_configured)
        needs = self.registry.needs_for(inbound.type)
        if not self.registry.handlers_for(inbound.type):
            note = f"no handler for {inbound.source} {inbound.type}: recorded, nothing to do"
            return Executed(provider_ref="plan", detail={"note": note})
        resolve = self.resolvers.get(inbound.source, self._whmcs_hook)
        data = resolve(inbound, needs)
        planned = plan_actions(self.registry, HookContext(inbound, data, self.catalog, self.settings, templates))
        source = f"after {', '.join(data.lookups)}" if data.lookups else "from the event alone"
        if self.whmcs is None:
            source += " (WHMCS API not configured)"
        note = f"planned {len(planned)} actions {source}"
        phones = [p.recipient for _, p in planned if p.channel == "whatsapp" and p.skip_reason is None]
        if data.client is not None:
            region = data.client.country or self.settings.default_phone_region
            numbers = [*(p.recipient for _, p in planned if _client_whatsapp(p)), *_contacts(data, region)]
            self._remember(data.client.id, numbers)
        words = looked_up_words(data, phones[0] if phones else None)
        return Executed(provider_ref="plan", detail={"note": note}, follow_up=tuple(planned), search_words=tuple(words))


def _contacts(data: EventData, region: str) -> list[str]:
    """The client's contacts' numbers the look-ups read: a contact may write on WhatsApp too."""
    numbers = (whatsapp_number(contact.phonenumber, None, region) for contact in data.contacts)
    return [number for number in numbers if number]


def _client_whatsapp(planned: PlannedAction) -> bool:
    return planned.channel == "whatsapp" and planned.skip_reason is None and not planned.content.get("staff")


def resolvers_for(
    db: Database,
    settings: Settings,
    whmcs: WhmcsApi | None,
    pagos360: Pagos360Api | None,
    rejected_cycles: int = 2,
) -> dict[str, Resolve]:
    """The bridge's look-ups by event source, besides WHMCS hooks: Pagos360's notifications
    are read back from Pagos360's API (bridge.planning.direct_debit); a customer's WhatsApp
    message is matched to a client by phone (bridge.planning.whatsapp_inbound)."""

    def pagos360_notification(inbound: InboundEvent, needs: frozenset[str]) -> EventData:
        resolver = DirectDebitResolver(db, pagos360, whmcs, settings, rejected_cycles)
        return resolver.resolve(inbound.type, inbound.payload, needs)

    return {"pagos360": pagos360_notification, "twilio": InboundMessageResolver(db, whmcs).resolve}
