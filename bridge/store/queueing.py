"""How an Action gets on the queue: stored `queued`, then its job put on Redis after the commit.

Every path that queues Actions goes through `queue_after_commit`: the intake (the planning),
the planner (what it planned), the debit cycle, the dead-letter report, the relay and the
delivery log's retry and replay. `requeue` is its shape for an Action that already exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

from bridge.core.states import State
from bridge.store.queue import ActionQueue
from bridge.store.transitions import move

log = logging.getLogger(__name__)
_WAITING = "bridge.queue_after_commit"  # session.info key: {queue: [action ids]}


def queue_after_commit(session: Session, queue: ActionQueue, action_ids: Iterable[int]) -> None:
    """Put these Actions' jobs on `queue` once the session's transaction has committed.

    Contract: the caller stores each of them as `queued` in this same transaction, when it
    creates them (`bridge.store.outbox.store_planned`) or moves them (`requeue`). If the
    transaction rolls back, nothing is enqueued.

    Why in this order, and no other:
    - The job never exists before its Action is committed as `queued`. A worker may take
      a job the instant it is on Redis; had the job come first, or the Action been
      committed `pending` and moved to `queued` in a second transaction, the worker could
      find the Action missing or read a state the commit is about to change, lose its
      compare-and-set to that commit, and drop the job: the Action then waited for the
      relay (issue 11). Stored `queued` from the start, the Action's state does not change
      under a worker that holds its job, and the intake is one transaction, not two.
    - If the enqueue fails (Redis down, the process dies right after the commit), the
      Action stays `queued` with no job. That is the case the relay's "queued, but its
      job is gone" rule covers, after RELAY_QUEUED_GRACE_SECONDS: nothing is lost, it
      only waits. So the enqueue's error is logged, not raised: the caller's work is
      committed and its answer (a 202 to WHMCS) must not say otherwise.
    - A job enqueued twice (this and the relay) is harmless: the claim is a compare-and-set.
    """
    ids = list(action_ids)
    if ids:
        session.info.setdefault(_WAITING, {}).setdefault(queue, []).extend(ids)


def requeue(session: Session, queue: ActionQueue, action_id: int, reason: str, *, expect: Iterable[State]) -> bool:
    """Move an existing Action to `queued` if it is in one of the `expect` states, and queue
    it after the commit (see `queue_after_commit`); say whether it moved."""
    if not move(session, action_id, State.QUEUED, reason, expect=expect):
        return False
    queue_after_commit(session, queue, [action_id])
    return True


def enqueue_committed(queue: ActionQueue, action_ids: list[int]) -> None:
    """Put the jobs of Actions already committed `queued` on `queue`, in one round trip.

    For a writer whose commit is not a session's (the intake's single statement on
    PostgreSQL, bridge.store.outbox); sessions get it from `queue_after_commit`. An error is
    logged, not raised, for the reasons `queue_after_commit` gives."""
    try:
        queue.enqueue_many(action_ids)
    except Exception:  # noqa: BLE001 - committed `queued`: the relay will catch up
        log.warning("could not queue actions %s; the relay will", action_ids, exc_info=True)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    for queue, ids in session.info.pop(_WAITING, {}).items():
        enqueue_committed(queue, ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_WAITING, None)
