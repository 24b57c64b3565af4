"""Intake: an inbound event and its first Action (the planning), committed together.

This is the outbox: once `record_event` returns, the event and the Action that will
work out everything it must cause are in the database, whatever happens to Redis or
the workers afterwards. The planner's own Actions are stored by `store_planned`, in the
transaction that closes the planning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bridge import metrics
from bridge.db import Database
from bridge.events import InboundEvent
from bridge.inbound import check_storable
from bridge.models import Action, ActionTransition, Event
from bridge.queue import ActionQueue
from bridge.search import normalise, payload_words
from bridge.states import FINAL, State
from bridge.transitions import move
from hooks import PlannedAction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    event_id: int
    created: bool  # False: the same event was already recorded; nothing new was planned
    pending_action_ids: tuple[int, ...]


def record_event(db: Database, inbound: InboundEvent, *, plan: bool = True) -> IntakeResult:
    """Store the event and its planning Action, or find the copy stored before.

    One transaction, and no read before the write: the insert itself says whether the
    event is new (ON CONFLICT DO NOTHING on its source and external id). Of two copies
    arriving at once, the second waits for the first to commit and then finds it.

    `plan=False` stores the event alone, for the bridge's own events (the debit cycle)
    whose Actions are added by their author.

    Raises InboundRefused, before anything is written, when the event's ids do not fit
    their columns."""
    check_storable(inbound)
    planning = PlannedAction(channel="plan", recipient="hooks", content={})
    with db.session() as session:
        event_id = _insert_new_event(session, inbound)
        if event_id is None:
            existing = session.scalar(
                select(Event.id).where(Event.source == inbound.source, Event.external_id == inbound.external_id)
            )
            if existing is None:  # the conflicting row is committed, so this cannot happen
                raise RuntimeError(f"event {inbound.source}/{inbound.external_id} conflicted but is not there")
            return IntakeResult(existing, created=False, pending_action_ids=())
        pending = store_planned(session, event_id, [("bridge.planner", planning)] if plan else [])
    return IntakeResult(event_id, created=True, pending_action_ids=pending)


def _insert_new_event(session: Session, inbound: InboundEvent) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new event's id, or None if the
    same (source, external_id) is already stored. Both PostgreSQL and SQLite speak it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Event)
        .values(
            source=inbound.source,
            type=inbound.type,
            external_id=inbound.external_id,
            client_id=inbound.client_id,
            payload=inbound.payload,
            search_text=normalise([inbound.external_id, *payload_words(inbound.payload)]),
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(Event.id)
    )
    return session.scalar(statement)


def store_planned(session: Session, event_id: int, planned: Iterable[tuple[str, PlannedAction]]) -> tuple[int, ...]:
    """Add the planned Actions with their first transition; return the ids to queue."""
    actions = [_action_row(event_id, hook, plan) for hook, plan in planned]
    session.add_all(actions)
    session.flush()
    for action in actions:
        reason = action.last_error or f"planned by {action.hook}"
        session.add(ActionTransition(action_id=action.id, from_state=None, to_state=action.state, reason=reason))
        if State(action.state) in FINAL:  # a recorded skip or a failed hook: final at birth
            metrics.action_finished(action.channel, State(action.state))
    return tuple(a.id for a in actions if a.state == State.PENDING)


def queue_pending(db: Database, queue: ActionQueue, action_ids: Iterable[int], reason: str) -> None:
    """Queue newly committed Actions; if Redis is down they stay pending for the relay.

    One Redis round trip and one transaction for all of them: a planning that fans out
    into several messages should not pay a commit per message."""
    ids = list(action_ids)
    if not ids:
        return
    try:
        queue.enqueue_many(ids)
    except Exception:  # noqa: BLE001 - they are committed; the relay will catch up
        log.warning("could not queue actions %s; the relay will", ids, exc_info=True)
        return
    with db.session() as session:
        for action_id in ids:
            move(session, action_id, State.QUEUED, reason, expect=[State.PENDING])


def _action_row(event_id: int, hook: str, plan: PlannedAction) -> Action:
    if plan.skip_reason is None:
        return Action(
            event_id=event_id, hook=hook, channel=plan.channel, recipient=plan.recipient, content=plan.content
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
