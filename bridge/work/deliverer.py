"""Carry out one Action: claim it, try it once, record the attempt and the outcome.

This is the body of every queue job. It is safe to run twice for the same Action (a
duplicate job, a relay re-enqueue): only the run that wins the claim does anything.
The Deliverer knows no channel: it calls the Action's channel's executor
(bridge.work.executors: the planner, the payment guard, a provider), paces it by the send rate
the executor declares, and stores the follow-up Actions its result carries (a planning's)
`queued` in the same transaction that marks the Action done; their jobs go on the queue
after the commit (`bridge.store.queueing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, insert, select, update

from bridge import metrics
from bridge.core.failure_alerts import failure_alerts
from bridge.core.fallback import next_in_chain, with_handover
from bridge.core.retry import RetryPolicy
from bridge.core.states import CLAIMABLE, State
from bridge.store.db import Database
from bridge.store.models import Action, utcnow
from bridge.store.outbox import store_planned
from bridge.store.queue import ActionQueue
from bridge.store.search import normalise
from bridge.store.tables import ACTIONS, ATTEMPTS, EVENTS
from bridge.store.transitions import move, move_returning
from bridge.work.executors import Executed, Executor
from bridge.work.ratelimit import RateLimiter
from providers import ProviderError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pacing:
    """How sends are paced: each executor declares its sender (`rate_key`) and rate
    (`per_second`); the limiter in Redis shares them between all workers."""

    limiter: RateLimiter
    max_wait: float
    throttle_pause: float


@dataclass(frozen=True)
class Outcome:
    action_id: int
    state: str  # the state the action was left in, or "not-claimed"
    detail: str = ""


class Deliverer:
    def __init__(
        self,
        db: Database,
        queue: ActionQueue,
        executors: Mapping[str, Executor],
        policy: RetryPolicy,
        pacing: Pacing,
        worker_name: str = "",
    ) -> None:
        """`executors`: one per channel (bridge.wiring.build_executors)."""
        self.db = db
        self.queue = queue
        self.executors = executors
        self.policy = policy
        self.pacing = pacing
        self.worker_name = worker_name

    def deliver(self, action_id: int) -> Outcome:
        seen = self._look(action_id)
        if seen is None or State(seen.state) not in CLAIMABLE:
            return Outcome(action_id, "not-claimed", "already taken or in a final state")
        deferred = self._wait_for_slot(action_id, seen.channel)
        if deferred is not None:
            return deferred
        claimed = self._claim(action_id, seen.attempts)
        if claimed is None:
            return Outcome(action_id, "not-claimed", "already taken or in a final state")
        action, attempt_id = claimed
        started = time.perf_counter()
        try:
            result = self._carry_out(action, attempt_id)
        except ProviderError as exc:
            return self._failed(action, attempt_id, started, exc)
        except Exception as exc:
            log.exception("unexpected error sending action %s", action_id)
            error = ProviderError(f"unexpected {type(exc).__name__}: {exc}", permanent=False)
            return self._failed(action, attempt_id, started, error)
        return self._sent(action, attempt_id, started, result)

    def _look(self, action_id: int) -> Row[Any] | None:
        """The Action's channel, state and attempt count, in one statement outside any
        transaction: what the send slot and the claim need to know first."""
        with self.db.autocommit() as connection:
            query = select(ACTIONS.c.channel, ACTIONS.c.state, ACTIONS.c.attempts).where(ACTIONS.c.id == action_id)
            return connection.execute(query).first()

    def _wait_for_slot(self, action_id: int, channel: str) -> Outcome | None:
        """Wait for the sender's next slot under its shared rate limit; when that is further
        away than RATE_LIMIT_MAX_WAIT_SECONDS, put the Action back for then instead."""
        executor = self.executors.get(channel)
        key = executor.rate_key if executor else None
        rate = executor.per_second if executor else None
        if not key or not rate:
            return None
        slot = self.pacing.limiter.reserve(key, rate, self.pacing.max_wait)
        if slot.reserved:
            if slot.wait > 0:
                metrics.rate_limit_wait(channel, slot.wait, deferred=False)
            time.sleep(slot.wait)
            return None
        metrics.rate_limit_wait(channel, slot.wait, deferred=True)
        with self.db.session() as session:
            reason = f"rate limit of {key}: next send slot in {slot.wait:.1f}s"
            later = utcnow() + timedelta(seconds=slot.wait)
            move(session, action_id, State.RETRYING, reason, expect=CLAIMABLE, next_attempt_at=later)
        return Outcome(action_id, State.RETRYING, "waiting for a send slot")

    def _carry_out(self, action: Action, attempt_id: int) -> Executed:
        executor = self.executors.get(action.channel)
        if executor is None:
            raise ProviderError(f"no provider for channel {action.channel!r}", permanent=True)
        return executor.carry_out(action, attempt_id)

    def _claim(self, action_id: int, seen_attempts: int) -> tuple[Action, int] | None:
        """Compare-and-set into `sending`, and write the attempt row before the send.

        One UPDATE that accepts every claimable state, on the attempt count read before the
        send slot, and returns the row it took (the content as it is now, not as it was
        before the wait). Not the state read then: it may change meanwhile without anyone
        having taken the Action (the relay queues it again, a duplicate job puts it back for
        a send slot), and a claim lost to such a move would drop this job and leave the
        Action waiting for the relay. A claim that did take it and try it changed the count:
        then this one loses, as it must."""
        with self.db.session() as session:
            number = seen_attempts + 1
            row = move_returning(
                session,
                action_id,
                State.SENDING,
                f"attempt {number} by worker {self.worker_name}".strip(),
                expect=CLAIMABLE,
                claim=seen_attempts,
                attempts=number,
                next_attempt_at=None,
            )
            if row is None:
                return None
            attempt = insert(ATTEMPTS).values(action_id=action_id, number=number, started_at=utcnow())
            attempt_id = session.scalar(attempt.returning(ATTEMPTS.c.id))
            assert attempt_id is not None  # an INSERT … RETURNING always returns its row
            # A detached Action built from the claimed row: what the executors read.
            return Action(**row._asdict()), attempt_id

    def _sent(self, action: Action, attempt_id: int, started: float, result: Executed) -> Outcome:
        outcome = "dry_run" if result.dry_run else "sent"
        default = "accepted by the provider"
        if result.dry_run:
            default = f"dry run: {result.detail.get('why', 'no credentials')}"
        reason = str(result.detail.get("note", default))
        with self.db.session() as session:
            # The move first: if the relay gave this attempt up meanwhile (a stalled worker),
            # its follow-ups must not be stored a second time.
            won = move(
                session,
                action.id,
                State.SENT,
                reason,
                expect=[State.SENDING],
                claim=action.attempts,
                provider_ref=result.provider_ref,
                dry_run=result.dry_run,
                last_error=None,
            )
            if won and result.follow_up:
                store_planned(session, self.queue, action.event_id, result.follow_up)
            if won:
                _add_search_words(session, action.event_id, result.search_words)
            self._finish_attempt(
                session,
                action,
                attempt_id,
                started,
                outcome=outcome if won else f"{outcome}_after_takeover",
                http_status=result.http_status,
                provider_ref=result.provider_ref,
            )
        if not won:
            return Outcome(action.id, "superseded", "the relay had given this attempt up")
        return Outcome(action.id, State.SENT, reason)

    def _failed(self, action: Action, attempt_id: int, started: float, error: ProviderError) -> Outcome:
        outcome = "throttled" if error.throttled else "permanent_error" if error.permanent else "transient_error"
        with self.db.session() as session:
            self._finish_attempt(
                session, action, attempt_id, started, outcome=outcome, http_status=error.http_status, error=str(error)
            )
            if error.throttled:
                executor = self.executors.get(action.channel)
                key = (executor.rate_key if executor else None) or action.channel
                pause = self.pacing.limiter.penalize(key, error.retry_after or self.pacing.throttle_pause)
                state, reason = State.RETRYING, f"throttled by the provider, {key} paused {pause:.1f}s: {error}"
                # Being told to slow down is no fault of the Action: the try does not count.
                extra = {"next_attempt_at": utcnow() + timedelta(seconds=pause), "attempts": action.attempts - 1}
            elif error.skip:
                state, reason, extra = State.SKIPPED, f"nothing to do: {error}", {}
            elif error.permanent:
                state, reason, extra = State.FAILED, f"permanent error: {error}", {}
            elif self.policy.exhausted(action.attempts):
                state, reason, extra = State.FAILED, f"gave up after {action.attempts} attempts: {error}", {}
            else:
                delay = self.policy.delay(action.attempts, error.retry_after)
                state, reason = State.RETRYING, f"transient error, retry in {delay:.1f}s: {error}"
                extra = {"next_attempt_at": utcnow() + timedelta(seconds=delay)}
            takes_over = next_in_chain(action.content, error.code) if state == State.FAILED else []
            reason = with_handover(reason, takes_over)
            alerts = failure_alerts(action.content, str(error)) if state == State.FAILED else []
            won = move(
                session,
                action.id,
                state,
                reason,
                expect=[State.SENDING],
                claim=action.attempts,
                last_error=str(error),
                **extra,
            )
            if won and (takes_over or alerts):  # the move decides: a relay that took the attempt over hands nothing
                store_planned(session, self.queue, action.event_id, [*takes_over, *alerts])
        return Outcome(action.id, state, reason)

    @staticmethod
    def _finish_attempt(session: Any, action: Action, attempt_id: int, started: float, **values: Any) -> None:
        """Complete the attempt row, and write the attempt's one log line."""
        duration_ms = (time.perf_counter() - started) * 1000
        # Only while still open: the relay closes an attempt it gave up on as "lost".
        session.execute(
            update(ATTEMPTS)
            .where(ATTEMPTS.c.id == attempt_id, ATTEMPTS.c.outcome.is_(None))
            .values(duration_ms=duration_ms, **values)
        )
        outcome = values.get("outcome")
        metrics.attempt_finished(action.channel, str(outcome), duration_ms / 1000)
        fields = {
            "event_id": action.event_id,
            "action_id": action.id,
            "channel": action.channel,
            "outcome": outcome,
            "duration_ms": round(duration_ms, 1),
            "http_status": values.get("http_status"),
        }
        level = logging.INFO if outcome in ("sent", "dry_run") else logging.WARNING
        detail = f": {values['error']}" if values.get("error") else ""
        log.log(
            level,
            "attempt %s of action %s (%s): %s%s",
            attempt_id,
            action.id,
            action.channel,
            outcome,
            detail,
            extra=fields,
        )


def _add_search_words(session: Any, event_id: int, words: tuple[object, ...]) -> None:
    if not words:
        return
    # Only the one column: the event's payload need not be loaded to extend its words.
    current = session.scalar(select(EVENTS.c.search_text).where(EVENTS.c.id == event_id)) or ""
    session.execute(
        update(EVENTS).where(EVENTS.c.id == event_id).values(search_text=normalise([*current.split(), *words]))
    )
