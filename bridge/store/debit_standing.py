"""A client's card direct debit as the bridge's own records hold it (the planner's
"debit_standing" need): no WHMCS or Pagos360 call."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.event_data import DebitStanding
from bridge.store.models import CardAdhesion, DebitRequest


def debit_standing(session: Session, client_id: str, invoice_id: str | None) -> DebitStanding:
    signed = session.scalar(
        select(CardAdhesion.id).where(
            CardAdhesion.whmcs_client_id == client_id,
            CardAdhesion.state == "signed",
            CardAdhesion.left_group_at.is_(None),
        )
    )
    rejected = None
    if invoice_id:
        rejected = session.scalar(
            select(DebitRequest.id).where(DebitRequest.invoice_id == invoice_id, DebitRequest.outcome == "rejected")
        )
    return DebitStanding(signed=signed is not None, invoice_rejected=rejected is not None)
