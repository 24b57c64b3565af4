"""The client's scheduled notices of the day, in one message: every relay pass from routing's
`[reminders] send_hour` on, each client with notices that have waited `hold_minutes` gets one
ScheduledNotices event (source `bridge`), which the planner turns into the message
(hooks/reminders.py).

Once: the notices are marked with the event's id in the transaction that records the event
(`UPDATE … WHERE event_id IS NULL`), so of two relays only one tells a notice, and a relay
that dies before its commit leaves the notices for the next pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bridge.core.events import BRIDGE_SOURCE, InboundEvent
from bridge.scheduled.daily import local_day
from bridge.services import Services
from bridge.store.models import ScheduledNotice
from bridge.store.outbox import record_event_in

log = logging.getLogger(__name__)

EVENT_TYPE = "ScheduledNotices"
CLIENTS_PER_PASS = 500  # the rest go at the next pass: a pass never holds the relay long


@dataclass
class DigestReport:
    clients: int = 0
    notices: int = 0


def send_due_notices(svc: Services, now: datetime) -> DigestReport:
    report = DigestReport()
    policy = svc.catalog.reminders
    today = local_day(now, svc.settings.tz, policy.send_hour)
    if today is None:
        return report
    ready = now - timedelta(minutes=policy.hold_minutes)
    with svc.db.session() as session:
        clients = session.scalars(
            select(ScheduledNotice.client_id)
            .where(ScheduledNotice.event_id.is_(None), ScheduledNotice.created_at <= ready)
            .group_by(ScheduledNotice.client_id)
            .order_by(func.min(ScheduledNotice.id))
            .limit(CLIENTS_PER_PASS)
        ).all()
    for client_id in clients:
        told = _tell(svc, client_id, ready, str(today))
        if told:
            report.clients += 1
            report.notices += told
    if report.clients:
        log.info("scheduled notices: %d clients told of %d notices", report.clients, report.notices)
    return report


class _Overtaken(Exception):
    """Another relay told (some of) these notices first: this transaction is rolled back."""


def _tell(svc: Services, client_id: str, ready: datetime, day: str) -> int:
    """One client's message: the event and the marks in one transaction; how many notices."""
    try:
        return _tell_in_one_transaction(svc, client_id, ready, day)
    except _Overtaken:
        return 0  # the next pass sees what is left


def _tell_in_one_transaction(svc: Services, client_id: str, ready: datetime, day: str) -> int:
    with svc.db.session() as session:
        pending = session.execute(
            select(ScheduledNotice.id, ScheduledNotice.kind, ScheduledNotice.values)
            .where(
                ScheduledNotice.client_id == client_id,
                ScheduledNotice.event_id.is_(None),
                ScheduledNotice.created_at <= ready,
            )
            .order_by(ScheduledNotice.id)
        ).all()
        if not pending:
            return 0
        notices = [{"id": row.id, "kind": row.kind, "values": row.values} for row in pending]
        inbound = InboundEvent(
            BRIDGE_SOURCE,
            EVENT_TYPE,
            f"notices:{client_id}:{pending[0].id}",
            {"params": {"userid": client_id, "day": day, "notices": notices}},
            client_id,
        )
        event_id = record_event_in(session, inbound, plan_on=svc.queue)
        if event_id is None:
            raise _Overtaken
        marked = session.scalars(
            update(ScheduledNotice)
            .where(ScheduledNotice.id.in_([n["id"] for n in notices]), ScheduledNotice.event_id.is_(None))
            .values(event_id=event_id)
            .returning(ScheduledNotice.id)
            .execution_options(synchronize_session=False)
        ).all()
        if len(marked) != len(notices):
            raise _Overtaken
        return len(notices)
