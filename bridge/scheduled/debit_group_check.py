"""The debit group's "exempt from suspend and terminate", checked from the relay: at its
first pass (the relay's start-up), once a day after that, and every RECHECK while the last
check failed or WHMCS could not be asked; the adhesion planning records what it reads too
(bridge.planning.direct_debit). A group that is not exempt alerts staff once a day
(DebitGroupNotExempt) and shows as a warning on /readyz, which still answers 200: a
misconfiguration is no reason to refuse events."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bridge.core.debit_group import CHECK_NAME, exemption
from bridge.core.events import BRIDGE_SOURCE, InboundEvent
from bridge.services import Services
from bridge.store.health_checks import last_check, record_check
from bridge.store.outbox import record_event
from providers.base import ProviderError
from providers.whmcs_api import whmcs_rows

log = logging.getLogger(__name__)

RECHECK = timedelta(minutes=15)
ALERT = "DebitGroupNotExempt"


def run_if_due(svc: Services, now: datetime) -> bool | None:
    """Check when due and alert when not exempt; the result (None: not checked now)."""
    if svc.whmcs is None or not svc.settings.pagos360_api_key:
        return None
    with svc.db.session() as session:
        last = last_check(session, CHECK_NAME)
        due = last is None or now - last.checked_at > (timedelta(days=1) if last.ok else RECHECK)
        ok = last.ok if last is not None else None
    if due:
        ok = check(svc)
    if ok is False:
        _alert(svc, now)
    return ok if due else None


def check(svc: Services) -> bool | None:
    assert svc.whmcs is not None
    try:
        groups = whmcs_rows(svc.whmcs.call("GetClientGroups"), "groups", "group")
    except ProviderError as exc:
        log.warning("the debit group's suspension exemption could not be checked: %s", exc)
        return None
    found = exemption(groups, svc.settings.pagos360_client_group_id, svc.settings.pagos360_client_group_name)
    with svc.db.session() as session:
        record_check(session, CHECK_NAME, found.ok, found.detail)
    if not found.ok:
        log.warning("%s", found.detail)
    return found.ok


def _alert(svc: Services, now: datetime) -> None:
    """One staff alert a day while the group is not exempt (the event's id says the day)."""
    with svc.db.session() as session:
        last = last_check(session, CHECK_NAME)
        detail = last.detail if last is not None else ""
    day = now.astimezone(svc.settings.tz).date()
    params = {"detail": detail, "group_name": svc.settings.pagos360_client_group_name}
    inbound = InboundEvent(BRIDGE_SOURCE, ALERT, f"debit-group-not-exempt:{day}", {"params": params})
    record_event(svc.db, inbound, plan_on=svc.queue)
