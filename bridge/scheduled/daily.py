"""Once a day per job, across any number of relays: a `scheduled_runs` row, unique per job
and day, is the claim. A run that died midway (its row never finished) is taken over after
UNFINISHED_RUN_TAKEOVER: every daily job is idempotent, so running it again resumes it."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.store.db import Database
from bridge.store.models import ScheduledRun, utcnow

UNFINISHED_RUN_TAKEOVER = timedelta(minutes=30)


def claim_day(db: Database, job: str, today: date) -> bool:
    """Whether this relay runs `job` for `today` (it claimed the day, or took over a run that
    died midway)."""
    with db.session() as session:
        run = session.scalar(select(ScheduledRun).where(ScheduledRun.name == job, ScheduledRun.day == today))
        if run is not None and (run.finished_at is not None or utcnow() - run.started_at < UNFINISHED_RUN_TAKEOVER):
            return False
    try:
        with db.session() as session:
            if run is None:
                session.add(ScheduledRun(name=job, day=today))
            else:
                session.get_one(ScheduledRun, run.id).started_at = utcnow()
    except IntegrityError:
        return False  # another relay claimed today's run
    return True


def note_progress(db: Database, job: str, today: date, summary: str, *, finished: bool = False) -> None:
    """Write how far the day's run got (read by the log page's runs and the metrics); a
    running job calling this also keeps its claim from being taken over."""
    with db.session() as session:
        run = session.scalar(select(ScheduledRun).where(ScheduledRun.name == job, ScheduledRun.day == today))
        if run is not None:
            run.summary = summary
            if finished:
                run.finished_at = utcnow()
            else:
                run.started_at = utcnow()


def local_day(now: datetime, tz: tzinfo, hour: int) -> date | None:
    """Today in the company's time zone, once `hour` has come; None before it."""
    local = now.astimezone(tz)
    return local.date() if local.hour >= hour else None
