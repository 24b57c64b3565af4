"""The gauges read at scrape time: Actions by state and channel, the queue's depth, and the
WhatsApp notices with no approved template.

Why not every state: `actions` keeps RETENTION_DAYS of history, 3,000,000 rows on the
benchmark database (bench/logpage.py), nearly all of them in a final state. No index
covers (state, channel), so a GROUP BY over every row reads the whole table on every
scrape. The gauge therefore counts only the states
an operator watches *now*: the ones still moving (pending, queued, sending, retrying) and
`failed` (the dead letters waiting for staff). `WHERE state IN (...)` is answered from
`ix_actions_state_next_attempt_at`, so the cost follows the backlog and the dead letters,
not the history. Measured on PostgreSQL 15 with bench/logpage.py's 3,000,000 actions (10,000
failed, 1,000 queued): 73 ms median for this query, 2.3 s for the GROUP BY over every state.
How many Actions *reached* each final state is a counter written where the move happens
instead (bridge_actions_finished_total).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bridge.core.actions import PLAN_CHANNEL
from bridge.core.states import State
from bridge.store.models import Action, ScheduledNotice, ScheduledRun
from bridge.store.templates import missing_templates

if TYPE_CHECKING:
    from bridge.services import Services

log = logging.getLogger(__name__)
GAUGED_STATES = (State.PENDING, State.QUEUED, State.SENDING, State.RETRYING, State.FAILED)


class StateCollector:
    """A prometheus_client collector over the app's database and queue.

    A source that does not answer is reported as `bridge_scrape_source_up{source} 0` and its
    gauges left out, rather than failing the whole scrape (the counters are still worth having).
    """

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "bridge_scrape_source_up", "1 when the source answered this scrape, else 0.", labels=["source"]
        )
        actions = self._actions()
        up.add_metric(["database"], 1 if actions is not None else 0)
        if actions is not None:
            yield actions
        missing = self._missing_templates()
        if missing is not None:
            yield missing
        yield from self._scheduled()
        depth = self._queue_depth()
        up.add_metric(["redis"], 1 if depth is not None else 0)
        if depth is not None:
            yield depth
        yield up

    def _actions(self) -> GaugeMetricFamily | None:
        query = (
            select(Action.state, Action.channel, func.count())
            .where(Action.state.in_([str(s) for s in GAUGED_STATES]))
            .group_by(Action.state, Action.channel)
        )
        try:
            with self.svc.db.session() as session:
                rows = session.execute(query).all()
        except SQLAlchemyError as exc:
            # No traceback: it would repeat on every scrape while the database is away.
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            return None
        # Zeros for every state and known channel: a series that vanishes cannot alert.
        counts = {(str(s), channel): 0 for s in GAUGED_STATES for channel in [PLAN_CHANNEL, *self.svc.providers]}
        counts.update({(state, channel): number for state, channel, number in rows})
        family = GaugeMetricFamily(
            "bridge_actions",
            "Actions now in each state that still needs attention (pending, queued, sending, retrying, failed).",
            labels=["state", "channel"],
        )
        for (state, channel), number in sorted(counts.items()):
            family.add_metric([state, channel], number)
        return family

    def _missing_templates(self) -> GaugeMetricFamily | None:
        try:
            with self.svc.db.session() as session:
                missing = missing_templates(session, self.svc.catalog, dry_run=not self.svc.settings.twilio_configured)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            return None
        return GaugeMetricFamily(
            "bridge_whatsapp_templates_missing",
            "Event x language pairs routed to WhatsApp with no approved template (outside the 24-hour"
            " window WhatsApp does not deliver them).",
            value=len(missing),
        )

    def _scheduled(self) -> Iterator[GaugeMetricFamily]:
        """The daily jobs (debit cycle, renewal scan): when each last finished and whether
        one is running now; and the clients' notices waiting for their day's message."""
        try:
            with self.svc.db.session() as session:
                runs = session.execute(
                    select(ScheduledRun.name, func.max(ScheduledRun.finished_at)).group_by(ScheduledRun.name)
                ).all()
                running = session.execute(
                    select(ScheduledRun.name, func.count())
                    .where(ScheduledRun.finished_at.is_(None))
                    .group_by(ScheduledRun.name)
                ).all()
                waiting = session.scalar(
                    select(func.count()).select_from(ScheduledNotice).where(ScheduledNotice.event_id.is_(None))
                )
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer: %s", type(exc).__name__)
            return
        finished = GaugeMetricFamily(
            "bridge_scheduled_run_finished_timestamp_seconds",
            "When each daily job (debit-cycle, renewal-scan) last finished a day's run.",
            labels=["job"],
        )
        for name, at in runs:
            if at is not None:
                finished.add_metric([name], at.timestamp())
        yield finished
        unfinished = GaugeMetricFamily(
            "bridge_scheduled_runs_unfinished",
            "Days' runs of each daily job started and not finished (running, or died: resumed by the next pass).",
            labels=["job"],
        )
        for name, number in running:
            unfinished.add_metric([name], number)
        yield unfinished
        yield GaugeMetricFamily(
            "bridge_scheduled_notices_waiting",
            "Clients' scheduled notices (reminders, renewals) not yet sent in a day's message.",
            value=waiting or 0,
        )

    def _queue_depth(self) -> GaugeMetricFamily | None:
        try:
            depth = self.svc.queue.depth()
        except RedisError as exc:
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            return None
        return GaugeMetricFamily("bridge_queue_depth", "Jobs waiting on the RQ queue.", value=depth)
