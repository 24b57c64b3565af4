"""The queue: RQ on Redis, one job per Action, the job id derived from the Action id."""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
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
        self.queue.enqueue_call(
            PERFORM_ACTION,
            args=(action_id,),
            job_id=job_id_for(action_id),
            timeout=self.job_timeout,
            result_ttl=0,  # the database is the record, not RQ
            failure_ttl=7 * 24 * 3600,
        )

    def is_waiting(self, action_id: int) -> bool:
        """True while RQ will still run the Action's job by itself (it has not been lost).

        A job whose hash says "queued" but which is no longer in the queue's list was taken
        by a worker that died before starting it: lost too."""
        job_id = job_id_for(action_id)
        try:
            job = Job.fetch(job_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:
            return self.connection.lpos(self.queue.key, job_id) is not None
        return status in WAITING

    def depth(self) -> int:
        return self.queue.count
