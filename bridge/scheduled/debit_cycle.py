"""The debit cycle: once a day, ask Pagos360 to debit every unpaid invoice of every
signed client whose debit day is near.

Exactly one debit request per invoice and cycle: the DebitRequest row (unique on invoice
and cycle) and the Action that will ask Pagos360 are written in one transaction, so a
cycle run twice, by two relays at once, or again after a crash, finds the row and moves
on; the Action itself is delivered like any other (queued, claimed, attempted once per
try) and, because it moves money, never repeated after an unclear failure.
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.core.actions import PlannedAction
from bridge.core.event_fields import EventShapeError, money
from bridge.core.events import InboundEvent
from bridge.scheduled.daily import claim_day, local_day, note_progress
from bridge.services import Services
from bridge.store.models import CardAdhesion, DebitRequest, ServiceCancellation
from bridge.store.outbox import record_event, store_planned
from providers.base import ProviderError
from providers.whmcs_api import whmcs_rows

log = logging.getLogger(__name__)
JOB_NAME = "debit-cycle"


@dataclass
class CycleReport:
    day: date
    clients: int = 0
    requested: list[str] = field(default_factory=list)  # invoice ids asked for now
    already: list[str] = field(default_factory=list)  # asked for by an earlier run
    cancelled: list[str] = field(default_factory=list)  # of a service the client asked to cancel
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.day}: {self.clients} clients due, {len(self.requested)} debit requests planned, "
            f"{len(self.already)} already planned, {len(self.cancelled)} left out (service cancelled), "
            f"{len(self.errors)} errors"
        )


def next_debit_date(debit_day: int, today: date) -> date:
    """The next day on or after `today` that is the debit day (the 31st is the 30th in
    April, the 28th or 29th in February)."""
    for months_ahead in (0, 1):
        year, month = divmod(today.month - 1 + months_ahead, 12)
        year, month = today.year + year, month + 1
        candidate = date(year, month, min(debit_day, calendar.monthrange(year, month)[1]))
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next month always has the day")


def run_debit_cycle(svc: Services, today: date) -> CycleReport:
    report = CycleReport(today)
    whmcs = svc.whmcs
    if whmcs is None:
        report.errors.append("the WHMCS API is not configured: unpaid invoices cannot be read")
        return report
    event_id = _cycle_event(svc, today)
    lead = timedelta(days=svc.settings.debit_lead_days)
    with svc.db.session() as session:
        adhesions = session.scalars(
            select(CardAdhesion).where(
                CardAdhesion.state == "signed",
                CardAdhesion.debit_day.is_not(None),
                CardAdhesion.left_group_at.is_(None),  # out of the debit group after rejected cycles
            )
        ).all()
    for adhesion in adhesions:
        debit_on = next_debit_date(adhesion.debit_day or 1, today)
        if debit_on - today > lead:
            continue
        report.clients += 1
        try:
            invoices = _unpaid_invoices(svc, adhesion.whmcs_client_id)
        except ProviderError as exc:
            report.errors.append(f"client {adhesion.whmcs_client_id}: {exc}")
            continue
        for invoice in invoices:
            _plan_debit(svc, event_id, adhesion, invoice, debit_on, report)
    log.info("debit cycle %s", report.summary())
    return report


def _unpaid_invoices(svc: Services, client_id: str) -> list[dict[str, object]]:
    assert svc.whmcs is not None
    answer = svc.whmcs.call("GetInvoices", userid=client_id, status="Unpaid", limitnum=250)
    return whmcs_rows(answer, "invoices", "invoice")


def _plan_debit(
    svc: Services, event_id: int, adhesion: CardAdhesion, invoice: dict[str, object], on: date, report: CycleReport
) -> None:
    invoice_id = str(invoice.get("id") or "")
    cycle = on.strftime("%Y-%m")
    with svc.db.session() as session:
        if session.scalar(
            select(DebitRequest.id).where(DebitRequest.invoice_id == invoice_id, DebitRequest.cycle == cycle)
        ):
            report.already.append(invoice_id)
            return
    # GetInvoices has no balance (a partly paid invoice owes less than its total).
    assert svc.whmcs is not None
    try:
        detail = svc.whmcs.call("GetInvoice", invoiceid=invoice_id)
    except ProviderError as exc:
        report.errors.append(f"invoice {invoice_id}: {exc}")
        return
    if str(detail.get("status")) != "Unpaid":
        return
    if _for_a_cancelled_service(svc, detail):
        report.cancelled.append(invoice_id)
        return
    try:
        amount = money(detail.get("balance"), "GetInvoice.balance") or Decimal(0)
    except EventShapeError as exc:
        report.errors.append(f"invoice {invoice_id}: {exc}")
        return
    if amount <= 0:
        return
    number = str(detail.get("invoicenum") or invoice.get("invoicenum") or invoice_id)
    content = {
        "amount": str(amount),
        "month": on.month,
        "year": on.year,
        "description": f"Factura {number}",
        "metadata": {"whmcs_invoice_id": invoice_id, "whmcs_client_id": adhesion.whmcs_client_id},
        "summary": f"debit invoice {number} ({amount}) on {on} from adhesion {adhesion.pagos360_id}",
    }
    planned = PlannedAction("pagos360_debit", adhesion.pagos360_id, content)
    try:
        with svc.db.session() as session:
            [action_id] = store_planned(session, svc.queue, event_id, [("bridge.scheduled.debit_cycle", planned)])
            session.add(
                DebitRequest(
                    invoice_id=invoice_id,
                    cycle=cycle,
                    adhesion_pagos360_id=adhesion.pagos360_id,
                    whmcs_client_id=adhesion.whmcs_client_id,
                    amount=amount,
                    action_id=action_id,
                )
            )
    except IntegrityError:
        report.already.append(invoice_id)  # another run got there first
        return
    report.requested.append(invoice_id)


# Invoice item types that bill a service (its `relid` is the service id), as GetInvoice lists them.
SERVICE_ITEM_TYPES = ("Hosting", "Setup", "PromoHosting")


def _for_a_cancelled_service(svc: Services, invoice: dict[str, object]) -> bool:
    """Whether the invoice bills a service the client asked to cancel (CancellationRequest,
    bridge.work.cancellations): at once, or for the period that starts at the service's next due
    date (its renewal invoice is due that day), which the client will not use."""
    items = whmcs_rows(invoice, "items", "item")
    services = {str(item.get("relid")) for item in items if str(item.get("type")) in SERVICE_ITEM_TYPES}
    if not services:
        return False
    due = str(invoice.get("duedate") or "")[:10]
    with svc.db.session() as session:
        cancellations = session.scalars(
            select(ServiceCancellation).where(ServiceCancellation.service_id.in_(services))
        ).all()
    return any(c.immediate or (c.ends_on is not None and due >= c.ends_on.isoformat()) for c in cancellations)


def _cycle_event(svc: Services, today: date) -> int:
    """The event the cycle's Actions belong to, one per day, so the log page shows them."""
    inbound = InboundEvent("bridge", "DebitCycle", f"debit-cycle:{today}", {"day": str(today)})
    result = record_event(svc.db, inbound, plan_on=None)
    return result.event_id


def run_if_due(svc: Services, now: datetime) -> CycleReport | None:
    """Run today's cycle once, after DEBIT_CYCLE_HOUR (company time), across all relays."""
    today = local_day(now, svc.settings.tz, svc.settings.debit_cycle_hour)
    if today is None or not claim_day(svc.db, JOB_NAME, today):
        return None
    report = run_debit_cycle(svc, today)
    note_progress(svc.db, JOB_NAME, today, report.summary(), finished=True)
    return report
