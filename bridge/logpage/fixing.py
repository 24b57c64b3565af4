"""What staff can do about a failed message: retry one Action, retry every failed Action the
filters select, or replay an event's planning. Each act goes through the bridge's own write
paths (a recorded transition; store_planned and requeue, which queue after the commit) and is
audited.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.core.actions import CONSENT_CHANNEL, PLAN_CHANNEL, TICKET_CHANNEL, PlannedAction
from bridge.core.states import State
from bridge.logpage.auth import Staff
from bridge.services import Services
from bridge.store.models import Action, AuditEntry
from bridge.store.outbox import PLANNER, store_planned
from bridge.store.queueing import requeue


def audit(
    session: Session, staff: Staff, verb: str, event_id: int | None, action_id: int | None = None, detail: str = ""
) -> None:
    session.add(
        AuditEntry(
            staff_id=staff.id,
            staff_email=staff.email,
            verb=verb,
            event_id=event_id,
            action_id=action_id,
            detail=detail,
        )
    )


def retryable_channels(svc: Services) -> frozenset[str]:
    """Channels a worker can carry out: a failed hook error or a recorded "none" cannot be retried."""
    return frozenset({*svc.providers, PLAN_CHANNEL, CONSENT_CHANNEL, TICKET_CHANNEL})


def retry_actions(svc: Services, staff: Staff, action_ids: Iterable[int], why: str) -> list[int]:
    """Move each failed Action back to `queued` (reason naming the staff member) and queue it
    after the commit (`bridge.store.queueing`).

    Returns the ids that moved; an Action no longer failed (a concurrent retry) is left alone.
    If Redis refuses the job, the Action stays `queued` and the relay queues it again.
    """
    channels = retryable_channels(svc)
    moved: list[int] = []
    for action_id in action_ids:
        with svc.db.session() as session:
            action = session.get(Action, action_id)
            if action is None or action.channel not in channels:
                continue
            reason = f"retried by {staff.email} from the delivery log ({why})"
            if requeue(session, svc.queue, action_id, reason, expect=[State.FAILED]):
                audit(session, staff, "retry", action.event_id, action_id, why)
                moved.append(action_id)
    return moved


def replay_event(svc: Services, staff: Staff, event_id: int) -> int:
    """Plan the event again: a new planning Action linked to the last one, queued at once.

    The Actions it plans are new rows of the same event, after it; the old ones are kept.
    """
    with svc.db.session() as session:
        previous = session.scalar(
            select(Action.id)
            .where(Action.event_id == event_id, Action.channel == PLAN_CHANNEL)
            .order_by(Action.id.desc())
            .limit(1)
        )
        planning = [(PLANNER, PlannedAction(PLAN_CHANNEL, "hooks", {}))]
        reason = f"replay queued by {staff.email} from the delivery log"
        [new_id] = store_planned(session, svc.queue, event_id, planning, reason=reason)
        session.execute(update(Action).where(Action.id == new_id).values(replay_of_id=previous))
        detail = f"new planning action {new_id}" + (f", replaying action {previous}" if previous else "")
        audit(session, staff, "replay", event_id, new_id, detail)
    return new_id
