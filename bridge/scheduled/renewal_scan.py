"""The renewal scan: once a day, the domains and services that expire or renew at one of
routing's lead days (`[reminders] lead_days`, default 30, 7 and 1 days before), kept as
scheduled notices (one per item, date and lead day: a unique key, not a read before a write)
for the client's day's message (bridge.scheduled.notice_digest). Its counts are on the
delivery log (a RenewalScan event of source `bridge`), in `scheduled_runs` while it runs, and
in the metrics (bridge_scheduled_*).

It pages through WHMCS's whole list (GetClientsDomains, GetClientsProducts, PAGE items a
call) and keeps one page in memory at a time, so 20,000 items cost what 250 do. Each page's
notices are stored in one transaction before the next page is asked for: a scan that dies
half-way is run again by the next relay pass (bridge.scheduled.daily) and finds what it kept.
A day missed (the bridge down) is caught up by the next scan, once: ReminderPolicy.due_lead.

An item is skipped unless it is Active (terminated, cancelled, transferred away, expired,
fraud, pending: nobody to remind), or it bills nothing (a free or one-time product).
Whether it renews by itself: a domain with auto-renew on, or a service, paid by card direct
debit (its gateway is Pagos360's, or its client's adhesion is signed); a domain with
auto-renew off says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from bridge.core.event_fields import EventShapeError, day, money, text
from bridge.core.events import BRIDGE_SOURCE, InboundEvent
from bridge.scheduled.daily import claim_day, local_day, note_progress
from bridge.services import Services
from bridge.store.insert_new import insert_new
from bridge.store.models import CardAdhesion, Event, ScheduledNotice
from bridge.store.outbox import record_event
from providers.base import ProviderError
from providers.whmcs_api import whmcs_rows

log = logging.getLogger(__name__)

JOB_NAME = "renewal-scan"
PAGE = 250
NO_RENEWAL_CYCLES = frozenset({"free account", "one time", "onetime", "free"})


@dataclass
class ScanReport:
    day: date
    items: dict[str, int] = field(default_factory=lambda: {"domain": 0, "service": 0})
    notices: int = 0  # kept now
    already: int = 0  # kept by an earlier run
    calls: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.day}: {self.items['domain']} domains and {self.items['service']} services read "
            f"in {self.calls} WHMCS calls, {self.notices} notices kept, {self.already} kept before, "
            f"{len(self.errors)} errors"
        )


# What each kind is read with: the API action, its list's wrapper keys, the date that counts.
SOURCES = (
    ("domain", "GetClientsDomains", "domains", "domain", "expirydate"),
    ("service", "GetClientsProducts", "products", "product", "nextduedate"),
)


def run_renewal_scan(svc: Services, today: date) -> ScanReport:
    report = ScanReport(today)
    if svc.whmcs is None:
        report.errors.append("the WHMCS API is not configured: domains and services cannot be read")
        return report
    on_debit = _signed_clients(svc)
    for kind, action, outer, inner, date_field in SOURCES:
        start = 0
        while True:
            try:
                answer = svc.whmcs.call(action, limitstart=start, limitnum=PAGE)
            except ProviderError as exc:
                report.errors.append(f"{action} from {start}: {exc}")
                break  # the next pass (or tomorrow's scan) reads it again: nothing is lost
            report.calls += 1
            rows = whmcs_rows(answer, outer, inner)
            notices = [n for row in rows if (n := _notice(svc, kind, row, date_field, today, on_debit, report))]
            report.items[kind] += len(rows)
            _keep(svc, notices, report)
            start += len(rows)
            note_progress(svc.db, JOB_NAME, today, report.summary())
            if not rows or start >= _total(answer):
                break
    log.info("renewal scan %s", report.summary())
    _on_the_log(svc, report)
    return report


def _on_the_log(svc: Services, report: ScanReport) -> None:
    """The day's scan as an event of the delivery log (source `bridge`): its counts and
    errors; a second run the same day (a resumed one) updates it."""
    payload = {
        "summary": report.summary(),
        "items": report.items,
        "notices": report.notices,
        "already": report.already,
        "calls": report.calls,
        "errors": report.errors[:50],
    }
    inbound = InboundEvent(BRIDGE_SOURCE, "RenewalScan", f"renewal-scan:{report.day}", payload)
    result = record_event(svc.db, inbound, plan_on=None)
    if not result.created:
        with svc.db.session() as session:
            session.get_one(Event, result.event_id).payload = payload


def _signed_clients(svc: Services) -> frozenset[str]:
    """The clients whose card is debited (a signed adhesion still in the debit group)."""
    with svc.db.session() as session:
        rows = session.scalars(
            select(CardAdhesion.whmcs_client_id).where(
                CardAdhesion.state == "signed", CardAdhesion.left_group_at.is_(None)
            )
        ).all()
    return frozenset(rows)


def _notice(
    svc: Services,
    kind: str,
    row: dict[str, Any],
    date_field: str,
    today: date,
    on_debit: frozenset[str],
    report: ScanReport,
) -> dict[str, Any] | None:
    where = f"{kind} {row.get('id')}"
    try:
        if text(row.get("status"), f"{where}.status") != "Active":
            return None
        if kind == "service" and text(row.get("billingcycle"), f"{where}.billingcycle").lower() in NO_RENEWAL_CYCLES:
            return None
        when = day(row.get(date_field)) or day(row.get("nextduedate"))
        if when is None:
            return None
        lead = svc.catalog.reminders.due_lead((when - today).days)
        if lead is None:
            return None
        client_id = text(row.get("userid") or row.get("clientid"), f"{where}.userid")
        amount = money(row.get("recurringamount"), f"{where}.recurringamount")
    except EventShapeError as exc:
        report.errors.append(str(exc))
        return None
    debited = text(row.get("paymentmethod"), f"{where}.paymentmethod") == svc.settings.pagos360_whmcs_gateway
    debited = debited or client_id in on_debit
    if kind == "domain":
        line = "domain_off" if str(row.get("donotrenew") or "0") in ("1", "on", "true") else None
        line = line or ("domain_auto" if debited else "domain_act")
        name = text(row.get("domainname"), f"{where}.domainname")
    else:
        line = "service_auto" if debited else "service_act"
        name = text(row.get("name") or row.get("translated_name"), f"{where}.name")
        domain = text(row.get("domain"), f"{where}.domain")
        name = f"{name} ({domain})" if domain else name
    return {
        "key": f"{kind}:{row.get('id')}:{when.isoformat()}:{lead}",
        "client_id": client_id,
        "kind": line,
        "values": {"name": name, "date": when.isoformat(), "amount": str(amount) if amount else "", "lead_days": lead},
    }


def _keep(svc: Services, notices: list[dict[str, Any]], report: ScanReport) -> None:
    """One page's notices in one transaction; those kept before are left as they are."""
    if not notices:
        return
    with svc.db.session() as session:
        new = session.scalars(
            insert_new(session, ScheduledNotice, notices, ["key"]).returning(ScheduledNotice.id)
        ).all()
    report.notices += len(new)
    report.already += len(notices) - len(new)


def _total(answer: dict[str, Any]) -> int:
    try:
        return int(str(answer.get("totalresults") or 0))
    except ValueError:
        return 0


def run_if_due(svc: Services, now: datetime) -> ScanReport | None:
    """Today's scan, once across the relays, from `[reminders] send_hour` (company time)."""
    today = local_day(now, svc.settings.tz, svc.catalog.reminders.send_hour)
    if today is None or svc.whmcs is None or not claim_day(svc.db, JOB_NAME, today):
        return None
    report = run_renewal_scan(svc, today)
    note_progress(svc.db, JOB_NAME, today, report.summary(), finished=not report.errors)
    return report
