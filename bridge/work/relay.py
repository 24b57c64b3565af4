"""The relay: puts back on the queue every Action the queue should hold but does not.

The database is the truth; Redis is only a fast way to hand ids to workers. Each pass:
- `queued` older than the grace time whose job RQ no longer holds: the process that
  stored it could not enqueue it after the commit (Redis was down, the process died),
  Redis restarted or was emptied, or a worker died between taking the job and claiming
  the Action. Queue it again.
- `pending` older than the grace time: stored by a version before Actions were stored
  `queued` (an upgrade with such rows left), and never queued. Queue it.
- `retrying` whose next attempt is due. Queue it.
- `sending` for longer than RELAY_SENDING_TIMEOUT_SECONDS: the worker died mid-send.
  The provider may or may not have accepted the message, and there is no way to ask
  it, so the attempt is closed as "lost" and the Action retried: this is the one window
  where a customer can get a message twice. The timeout must stay well above the
  providers' own timeouts so that a slow send is never mistaken for a dead one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update

from bridge import metrics
from bridge.core.retry import RetryPolicy
from bridge.core.states import State
from bridge.store.db import Database
from bridge.store.models import Action, Attempt, utcnow
from bridge.store.queue import ActionQueue
from bridge.store.queueing import requeue
from bridge.store.transitions import move

log = logging.getLogger(__name__)
HEARTBEAT_KEY = "bridge:relay:heartbeat"  # /readyz checks that a relay ran recently
# Channels whose call cannot safely be repeated when its outcome is unknown: a debit
# request asked of Pagos360 moves money and takes no idempotency key.
NOT_REPEATABLE = frozenset({"pagos360_debit"})


@dataclass
class RelayReport:
    queued_pending: list[int] = field(default_factory=list)
    requeued_lost: list[int] = field(default_factory=list)
    queued_retries: list[int] = field(default_factory=list)
    recovered_sending: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            len(self.queued_pending) + len(self.requeued_lost) + len(self.queued_retries) + len(self.recovered_sending)
        )


class Relay:
    def __init__(
        self,
        db: Database,
        queue: ActionQueue,
        policy: RetryPolicy,
        *,
        grace_seconds: float,
        sending_timeout_seconds: float,
        batch_size: int = 500,
    ) -> None:
        self.db = db
        self.queue = queue
        self.policy = policy
        self.grace = timedelta(seconds=grace_seconds)
        self.sending_timeout = timedelta(seconds=sending_timeout_seconds)
        self.batch_size = batch_size

    def run_once(self, now: datetime | None = None) -> RelayReport:
        now = now or utcnow()
        report = RelayReport()
        self.queue.connection.set(HEARTBEAT_KEY, str(time.time()), ex=3600)
        self._recover_sending(now, report)
        for action_id in self._ids(State.PENDING, Action.updated_at <= now - self.grace):
            if self._queue(action_id, State.PENDING, "relay: committed but never queued"):
                report.queued_pending.append(action_id)
        queued = self._ids(State.QUEUED, Action.updated_at <= now - self.grace)
        for action_id in sorted(self.queue.lost(queued)):
            if self._queue(action_id, State.QUEUED, "relay: the queue lost its job"):
                report.requeued_lost.append(action_id)
        for action_id in self._ids(State.RETRYING, Action.next_attempt_at <= now):
            if self._queue(action_id, State.RETRYING, "relay: retry due"):
                report.queued_retries.append(action_id)
        metrics.relay_pass(
            never_queued=len(report.queued_pending),
            job_lost=len(report.requeued_lost),
            stuck_sending=len(report.recovered_sending),
            retries_due=len(report.queued_retries),
        )
        if report.total:
            log.info(
                "relay: queued %d pending, %d lost, %d retries; recovered %d from dead workers",
                len(report.queued_pending),
                len(report.requeued_lost),
                len(report.queued_retries),
                len(report.recovered_sending),
            )
        return report

    def _ids(self, state: State, condition: ColumnElement[bool]) -> list[int]:
        with self.db.session() as session:
            query = select(Action.id).where(Action.state == str(state), condition).order_by(Action.id)
            return list(session.scalars(query.limit(self.batch_size)))

    def _queue(self, action_id: int, expected: State, reason: str) -> bool:
        """Move it to `queued` and enqueue it after the commit (`bridge.store.queueing`): if the
        enqueue fails, the next pass sees a queued Action without a job and tries again."""
        with self.db.session() as session:
            return requeue(session, self.queue, action_id, reason, expect=[expected])

    def _recover_sending(self, now: datetime, report: RelayReport) -> None:
        for action_id in self._ids(State.SENDING, Action.updated_at <= now - self.sending_timeout):
            with self.db.session() as session:
                action = session.get(Action, action_id)
                if action is None:
                    continue
                closed = session.execute(
                    update(Attempt)
                    .where(Attempt.action_id == action_id, Attempt.outcome.is_(None))
                    .values(outcome="lost", error="worker lost during the send")
                )
                # An UPDATE's result is a CursorResult, but Session.execute is typed Result for every statement.
                for _ in range(closed.rowcount or 0):  # type: ignore[attr-defined]
                    metrics.attempt_finished(action.channel, "lost")
                error = "worker lost during the send; the message may have gone out"
                extra: dict[str, Any]  # column values for move's UPDATE
                if action.channel in NOT_REPEATABLE:
                    error = "worker lost during a call that moves money: check the provider before retrying"
                if action.channel in NOT_REPEATABLE or self.policy.exhausted(action.attempts):
                    to_state, reason, extra = State.FAILED, f"relay: {error}", {}
                else:
                    to_state, reason, extra = State.RETRYING, f"relay: {error}; retrying", {"next_attempt_at": now}
                if move(session, action_id, to_state, reason, expect=[State.SENDING], last_error=error, **extra):
                    report.recovered_sending.append(action_id)
