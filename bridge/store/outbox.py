"""Intake: an inbound event and its first Action (the planning), committed together.

This is the outbox: once `record_event` returns, the event and the Action that will
work out everything it must cause are in the database, already `queued`, whatever happens
to Redis or the workers afterwards; its job is put on the queue after the commit
(`bridge.store.queueing`). The planner's own Actions are stored by `store_planned`, in the
transaction that closes the planning, and queued the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from bridge import metrics
from bridge.core.actions import PlannedAction
from bridge.core.event_fields import LONE_SURROGATE
from bridge.core.events import InboundEvent, InboundRefused
from bridge.core.states import FINAL, State
from bridge.store.db import Database
from bridge.store.insert_new import insert_new
from bridge.store.intake_rows import EVENT_KEY, store_event_and_planning
from bridge.store.models import Action, ActionTransition, Event, string_width, utcnow
from bridge.store.queue import ActionQueue
from bridge.store.queueing import enqueue_committed, queue_after_commit
from bridge.store.search import normalise, payload_words
from bridge.store.tables import EVENTS

RECEIVED = "queued on receipt"  # the reason on a received event's planning
PLANNER = "bridge.planner"  # the hook name on every planning Action


@dataclass(frozen=True)
class IntakeResult:
    event_id: int
    created: bool  # False: the same event was already recorded; nothing new was planned


def record_event(db: Database, inbound: InboundEvent, *, plan_on: ActionQueue | None) -> IntakeResult:
    """Store the event and its planning Action, or find the copy stored before.

    One transaction (on PostgreSQL, with a planning, one statement), and no read before the
    write: the insert itself says whether the event is new (ON CONFLICT DO NOTHING on its
    source and external id). Of two copies arriving at once, the second waits for the first
    to commit and then finds it.

    The planning is stored `queued` and its job put on `plan_on` after the commit.
    `plan_on=None` stores the event alone, for the bridge's own events (the debit cycle)
    whose Actions are added by their author, and receipts kept only for the record.

    Raises InboundRefused, before anything is written, when the event's ids do not fit
    their columns."""
    check_storable(inbound)
    if plan_on is not None and db.backend == "postgresql":
        return _record_in_one_statement(db, inbound, plan_on)
    with db.session() as session:
        event_id = record_event_in(session, inbound, plan_on=plan_on)
        if event_id is None:
            return IntakeResult(_stored_before(session, inbound), created=False)
    return IntakeResult(event_id, created=True)


def _record_in_one_statement(db: Database, inbound: InboundEvent, plan_on: ActionQueue) -> IntakeResult:
    """PostgreSQL: the event, its planning and the first transition in one statement, which
    commits alone (no BEGIN, no COMMIT: two round trips fewer on the webhook's path); the job
    is queued once it has returned, as `queue_after_commit` would."""
    with db.autocommit() as connection:
        stored = store_event_and_planning(connection, _event_row(inbound), hook=PLANNER, reason=RECEIVED)
        if stored is None:
            return IntakeResult(_stored_before(connection, inbound), created=False)
    event_id, planning_id = stored
    enqueue_committed(plan_on, [planning_id])
    return IntakeResult(event_id, created=True)


def _stored_before(on: Session | Connection, inbound: InboundEvent) -> int:
    """The id of the copy an insert conflicted with: committed (the insert waited for it), so
    it is there to read."""
    same = select(Event.id).where(Event.source == inbound.source, Event.external_id == inbound.external_id)
    existing = on.scalar(same)
    if existing is None:
        raise RuntimeError(f"event {inbound.source}/{inbound.external_id} conflicted but is not there")
    return existing


def record_event_in(session: Session, inbound: InboundEvent, *, plan_on: ActionQueue | None) -> int | None:
    """`record_event` inside the caller's transaction, for a writer that must store more with
    the event (bridge.scheduled.notice_digest marks the notices it tells): the new event's id,
    or None when the same event is stored already (then nothing was written)."""
    values = _event_row(inbound)
    if plan_on is None:
        return session.scalar(insert_new(session, EVENTS, values, EVENT_KEY).returning(EVENTS.c.id))
    stored = store_event_and_planning(session, values, hook=PLANNER, reason=RECEIVED)
    if stored is None:
        return None
    event_id, planning_id = stored
    queue_after_commit(session, plan_on, [planning_id])
    return event_id


def _event_row(inbound: InboundEvent) -> dict[str, object]:
    return {
        "source": inbound.source,
        "type": inbound.type,
        "external_id": inbound.external_id,
        "client_id": inbound.client_id,
        "payload": inbound.payload,
        "search_text": normalise([inbound.external_id, *payload_words(inbound.payload)]),
        "received_at": utcnow(),
    }


def store_planned(
    session: Session,
    queue: ActionQueue,
    event_id: int,
    planned: Iterable[tuple[str, PlannedAction]],
    *,
    reason: str | None = None,
) -> tuple[int, ...]:
    """Add the planned Actions with their first transition and return their ids.

    Those with something to carry out are stored `queued` and queued after the commit
    (`queue_after_commit`); a recorded skip or a failed hook is final at birth. The first
    transition says why: the skip's reason, else `reason`, else which hook planned it."""
    actions = [_action_row(event_id, hook, plan) for hook, plan in planned]
    session.add_all(actions)
    session.flush()
    for action in actions:
        why = action.last_error or reason or f"planned by {action.hook}"
        session.add(ActionTransition(action_id=action.id, from_state=None, to_state=action.state, reason=why))
        if State(action.state) in FINAL:
            metrics.action_finished(action.channel, State(action.state))
    queue_after_commit(session, queue, [a.id for a in actions if a.state == State.QUEUED])
    return tuple(a.id for a in actions)


# The recipient column's width, read from the model: a migration that widens it widens this.
RECIPIENT_LENGTH = string_width(Action, "recipient")


def _action_row(event_id: int, hook: str, plan: PlannedAction) -> Action:
    if plan.skip_reason is None and len(plan.recipient) > RECIPIENT_LENGTH:
        # Whatever a client typed into a WHMCS field: stored as a skip that says why, never
        # a planning that fails to commit (PostgreSQL refuses the row) and retries in vain.
        plan = replace(
            plan,
            recipient=plan.recipient[: RECIPIENT_LENGTH - 1] + "…",
            skip_reason=f"recipient is {len(plan.recipient)} characters long; at most {RECIPIENT_LENGTH} are stored",
        )
    if plan.skip_reason is None:
        return Action(
            event_id=event_id,
            hook=hook,
            channel=plan.channel,
            recipient=plan.recipient,
            content=plan.content,
            state=str(State.QUEUED),
        )
    # A hook error is a failure staff must look at; a missing phone is a normal skip.
    state = State.FAILED if plan.channel == "hook" else State.SKIPPED
    return Action(
        event_id=event_id,
        hook=hook,
        channel=plan.channel,
        recipient=plan.recipient,
        content=plan.content,
        state=str(state),
        last_error=plan.skip_reason,
    )


# The InboundEvent fields stored in a length-limited column of `events`, by column name.
_ID_COLUMNS = ("source", "type", "external_id", "client_id")


def check_storable(inbound: InboundEvent) -> None:
    """InboundRefused unless the event's identifiers fit their columns of `events` and
    hold only storable characters. Lengths are read from the model, so a migration that
    widens a column widens what is accepted."""
    for name in _ID_COLUMNS:
        value = getattr(inbound, name)
        if value is None:
            continue
        label = {"external_id": "event id", "client_id": "client id"}.get(name, name)
        if "\x00" in value or LONE_SURROGATE.search(value):
            raise InboundRefused(f"{label} holds a NUL character or a lone surrogate", reason="bad_id", field=name)
        limit = string_width(Event, name)
        if len(value) > limit:
            raise InboundRefused(
                f"{label} is {len(value)} characters long; at most {limit} are stored", reason="bad_id", field=name
            )
