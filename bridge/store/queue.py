"""The queue: RQ on Redis, one job per Action, the job id derived from the Action id."""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

PERFORM_ACTION = "bridge.jobs.perform_action"
# Statuses in which RQ will still run the job by itself.
WAITING = frozenset({JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


def job_id_for(action_id: int) -> str:
    return f"action-{action_id}"


class ActionQueue:
    """Puts Action ids on the queue and tells whether RQ still holds a job for one."""

    def __init__(self, connection: Redis, name: str, job_timeout: float) -> None:
        self.connection = connection
        self.queue = Queue(name, connection=connection)
        self.job_timeout = int(job_timeout) + 30

    def enqueue(self, action_id: int) -> None:
        """Queue the Action. Jobs carry only the id: the worker reads the rest from the database.

        Enqueuing an Action twice is harmless: the worker's claim is a compare-and-set.
        """
        self.enqueue_many([action_id])

    def enqueue_many(self, action_ids: Sequence[int]) -> None:
        """Queue several Actions in one round trip to Redis (all of them or, on error, none)."""
        if not action_ids:
            return
        self.queue.enqueue_many(
            [
                Queue.prepare_data(
                    PERFORM_ACTION,
                    args=(action_id,),
                    job_id=job_id_for(action_id),
                    timeout=self.job_timeout,
                    result_ttl=0,  # the database is the record, not RQ
                    failure_ttl=7 * 24 * 3600,
                )
                for action_id in action_ids
            ]
        )

    def lost(self, action_ids: Sequence[int]) -> set[int]:
        """The Actions among these whose job RQ will no longer run by itself.

        Lost: no job at all (Redis emptied or restarted), a job that failed or was stopped,
        or a job whose hash says "queued" but which is no longer in the queue's list (taken
        by a worker that died before starting it). The queue's list is read once for all of
        them: one LPOS per Action would scan it each time, which with thousands waiting (a
        monthly invoice run) makes a relay pass quadratic."""
        if not action_ids:
            return set()
        listed = {_text(raw) for raw in self.connection.lrange(self.queue.key, 0, -1)}
        pipeline = self.connection.pipeline(transaction=False)
        for action_id in action_ids:
            pipeline.hget(Job.key_for(job_id_for(action_id)), "status")
        found = set()
        for action_id, raw in zip(action_ids, pipeline.execute(), strict=True):
            status = raw.decode() if raw is not None else None
            if status == JobStatus.QUEUED:
                waiting = job_id_for(action_id) in listed
            else:
                waiting = status in WAITING
            if not waiting:
                found.add(action_id)
        return found

    def depth(self) -> int:
        return self.queue.count


def _text(reply: bytes | str) -> str:
    """A Redis reply as text. RQ's connection never decodes replies (bytes come back), but
    redis-py types them as bytes or str, whichever `decode_responses` the client has."""
    return reply.decode() if isinstance(reply, bytes) else reply
