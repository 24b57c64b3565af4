"""Card direct debit: what the planner knows of a Pagos360 event before the hooks run.

A Pagos360 notification is only a hint. This reads the entity back from Pagos360's API,
finds the WHMCS client (and invoice) it belongs to, keeps the bridge's mirror of the
adhesion up to date (state, card brand and last four digits, debit day, the group the
client was in before), and hands the hooks what the API said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select

from bridge.core.actions import DEBIT_REQUEST_CHANNEL
from bridge.core.debit_group import CHECK_NAME, exemption
from bridge.core.debits import outcome_of
from bridge.core.event_data import Adhesion, Client, Debit, EventData
from bridge.core.event_fields import identifier, mapping, money, number, text
from bridge.core.settings import Settings
from bridge.planning.enrichment import Enricher
from bridge.store.db import Database
from bridge.store.debit_outcomes import record_outcome
from bridge.store.health_checks import record_check
from bridge.store.models import Action, Base, CardAdhesion, DebitPayment, DebitRequest, string_width
from providers.base import ProviderError
from providers.pagos360 import Pagos360Api
from providers.whmcs_api import NotFound, WhmcsApi, whmcs_rows

DIRECT_DEBIT_NEEDS = frozenset({"adhesion", "debit", "debit_group"})


def debit_day_after(signed_on: date) -> int:
    """Debits fall on the day after the confirmation day, wrapping at month end (31 -> 1)."""
    return (signed_on + timedelta(days=1)).day


class DirectDebitResolver:
    def __init__(
        self,
        db: Database,
        pagos360: Pagos360Api | None,
        whmcs: WhmcsApi | None,
        settings: Settings,
        rejected_cycles: int = 2,
    ) -> None:
        """`rejected_cycles`: routing's [reminders] rejected_cycles (bridge.store.debit_outcomes)."""
        self.rejected_cycles = rejected_cycles
        self.db = db
        self.pagos360 = pagos360
        self.whmcs = whmcs
        self.settings = settings
        self.enricher = Enricher(whmcs)

    def resolve(self, event_type: str, payload: dict[str, Any], needs: frozenset[str]) -> EventData:
        if self.pagos360 is None:
            raise ProviderError(
                "PAGOS360_API_KEY is not set: the notification cannot be checked with Pagos360", permanent=True
            )
        entity_id = str(payload.get("entity_id", ""))
        if event_type == "card_adhesion":
            raw = self.pagos360.get_card_adhesion(entity_id)
            self.enricher.lookups.append("Pagos360 card_adhesion")
            client_id = self._client_id(raw)
            data = self.enricher.resolve({"userid": client_id}, needs - DIRECT_DEBIT_NEEDS)
            group_id = self._group_id() if "debit_group" in needs else None
            adhesion = self._mirror(raw, client_id, data.client, group_id)
            return replace(data, adhesion=adhesion, debit_group_id=group_id, lookups=tuple(self.enricher.lookups))
        raw = self.pagos360.get_card_debit_request(entity_id)
        self.enricher.lookups.append("Pagos360 card_debit_request")
        card_adhesion = mapping(raw.get("card_adhesion"), "card_debit_request.card_adhesion")
        client_id = self._client_id(card_adhesion) or self._client_id(raw)
        metadata = mapping(raw.get("metadata"), "card_debit_request.metadata")
        invoice_id = identifier(metadata.get("whmcs_invoice_id"), "card_debit_request.metadata.whmcs_invoice_id") or ""
        data = self.enricher.resolve({"userid": client_id}, needs - DIRECT_DEBIT_NEEDS - {"invoice"})
        invoice, invoice_problem = None, ""
        if "invoice" in needs and invoice_id:
            try:
                invoice = self.enricher.resolve({"invoiceid": invoice_id}, frozenset({"invoice"})).invoice
            except NotFound as exc:
                # Not a reason to drop the event: the payment is refused and staff told why.
                invoice_problem = str(exc)
        pagos360_id = text(raw.get("id", entity_id), "card_debit_request.id", _width(DebitPayment, "pagos360_id"))
        requested, payment = self._bridge_records(pagos360_id)
        state = text(raw.get("state"), "card_debit_request.state")
        with self.db.session() as session:
            streak = record_outcome(session, pagos360_id, outcome_of(state), self.rejected_cycles)
        debit = Debit(
            pagos360_id=pagos360_id,
            state=state,
            client_id=client_id,
            invoice_id=invoice_id,
            amount=money(raw.get("amount"), "card_debit_request.amount"),
            state_comment=text(raw.get("state_comment"), "card_debit_request.state_comment"),
            paid_at=text(raw.get("paid_at"), "card_debit_request.paid_at"),
            adhesion_id=text(card_adhesion.get("id"), "card_debit_request.card_adhesion.id"),
            requested_amount=requested.amount if requested else None,
            requested_invoice_id=requested.invoice_id if requested else "",
            invoice_problem=invoice_problem,
            payment_state=payment.state if payment is not None else "",
            payment_action=payment.action_id if payment is not None else None,
            rejected_cycles=streak.rejected_cycles,
            leaves_debit_group=streak.leaves_group,
            previous_group_id=streak.previous_group_id,
        )
        return replace(data, invoice=invoice, debit=debit, lookups=tuple(self.enricher.lookups))

    def _bridge_records(self, pagos360_id: str) -> tuple[Row[Any] | None, Row[Any] | None]:
        """What the bridge itself holds on this debit: its own request for it, if the bridge
        asked Pagos360 for it (amount, invoice), and the claim on its payment (state, Action)."""
        with self.db.session() as session:
            requested = session.execute(
                select(DebitRequest.amount, DebitRequest.invoice_id)
                .join(Action, Action.id == DebitRequest.action_id)
                .where(Action.channel == DEBIT_REQUEST_CHANNEL, Action.provider_ref == pagos360_id)
            ).first()
            payment = session.execute(
                select(DebitPayment.state, DebitPayment.action_id).where(DebitPayment.pagos360_id == pagos360_id)
            ).first()
        return requested, payment

    def _client_id(self, raw: Mapping[str, Any]) -> str:
        reference = text(raw.get("external_reference"), "external_reference")
        match = re.match(self.settings.pagos360_external_reference, reference)
        if match:
            return match.group(1)
        metadata = mapping(raw.get("metadata"), "metadata")
        found = identifier(metadata.get("whmcs_client_id"), "metadata.whmcs_client_id") or identifier(
            metadata.get("client_id"), "metadata.client_id"
        )
        if not found:
            raise ProviderError(
                f"Pagos360 {raw.get('id')}: no WHMCS client in external_reference "
                f"{raw.get('external_reference')!r} (pattern PAGOS360_EXTERNAL_REFERENCE) nor in metadata",
                permanent=True,
            )
        return str(found)

    def _group_id(self) -> int:
        """The debit group's id (configured, or found by name in GetClientGroups). Each
        adhesion also checks that the group is exempt from suspension (recorded for the
        relay's alert and /readyz: bridge.scheduled.debit_group_check)."""
        configured = self.settings.pagos360_client_group_id
        if self.whmcs is None:
            if configured:
                return configured
            raise ProviderError("the WHMCS API is not configured: the debit group cannot be looked up", permanent=True)
        self.enricher.lookups.append("GetClientGroups")
        groups = whmcs_rows(self.whmcs.call("GetClientGroups"), "groups", "group")
        found = exemption(groups, configured, self.settings.pagos360_client_group_name)
        with self.db.session() as session:
            record_check(session, CHECK_NAME, found.ok, found.detail)
        if configured:
            return configured
        if not found.group_id:
            name = self.settings.pagos360_client_group_name
            raise ProviderError(
                f"WHMCS has no client group named {name!r} (PAGOS360_CLIENT_GROUP_NAME)", permanent=True
            )
        return number(found.group_id, "GetClientGroups.group.id")

    def _mirror(self, raw: dict[str, Any], client_id: str, client: Client | None, group_id: int | None) -> Adhesion:
        """Bring the bridge's record of the adhesion in line with what Pagos360 says."""
        pagos360_id = text(raw.get("id"), "card_adhesion.id", _width(CardAdhesion, "pagos360_id"))
        state = text(raw.get("state"), "card_adhesion.state", _width(CardAdhesion, "state"))
        with self.db.session() as session:
            row = session.scalar(select(CardAdhesion).where(CardAdhesion.pagos360_id == pagos360_id))
            if row is None:
                row = CardAdhesion(pagos360_id=pagos360_id, whmcs_client_id=client_id, state=state)
                session.add(row)
            row.state = state
            row.state_comment = text(raw.get("state_comment"), "card_adhesion.state_comment") or None
            row.card_brand = text(raw.get("card"), "card_adhesion.card", _width(CardAdhesion, "card_brand")) or None
            row.last_four = text(raw.get("last_four_digits"), "card_adhesion.last_four_digits")[-4:] or None
            if state == "signed" and row.signed_on is None:
                row.signed_on = datetime.now(self.settings.tz).date()
                row.debit_day = debit_day_after(row.signed_on)
            if (
                state == "signed"
                and client is not None
                and row.previous_group_id is None
                and client.groupid != group_id
            ):
                row.previous_group_id = client.groupid
            session.flush()
            return Adhesion(
                pagos360_id=pagos360_id,
                state=state,
                client_id=client_id,
                state_comment=row.state_comment or "",
                card_brand=row.card_brand or "",
                last_four=row.last_four or "",
                debit_day=row.debit_day,
                previous_group_id=row.previous_group_id,
            )


def _width(model: type[Base], column: str) -> int:
    """The width of one of the bridge's own columns, read from the model: what Pagos360
    says is stored there, and a longer value must fail the planning by name, not the commit."""
    return string_width(model, column)
