"""Intake: an inbound event and the Actions its hooks plan, committed in one transaction.

This is the outbox: once `record_event` returns, the event and everything it must cause
are in the database, whatever happens to Redis or the workers afterwards.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bridge.catalog import Catalog
from bridge.db import Database
from bridge.events import InboundEvent
from bridge.models import Action, ActionTransition, Event
from bridge.settings import Settings
from bridge.states import State
from hooks import HookContext, HookRegistry, PlannedAction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    event_id: int
    created: bool  # False: the same event was already recorded; nothing new was planned
    pending_action_ids: tuple[int, ...]


def plan_actions(registry: HookRegistry, context: HookContext) -> list[tuple[str, PlannedAction]]:
    """Run every handler for the event, lowest priority first.

    A handler that raises does not lose the event: its failure becomes a failed Action
    named after it, visible on the log page, and the other handlers still run.
    """
    planned: list[tuple[str, PlannedAction]] = []
    for name, handler in registry.handlers_for(context.event.type):
        try:
            planned.extend((name, action) for action in handler(context))
        except Exception as exc:
            log.exception("hook %s failed on %s event", name, context.event.type)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            planned.append((name, PlannedAction("hook", name, {}, skip_reason=f"hook error: {detail}")))
    return planned


def record_event(
    db: Database, registry: HookRegistry, catalog: Catalog, settings: Settings, inbound: InboundEvent
) -> IntakeResult:
    """Store the event and its planned Actions, or find the copy stored before."""
    existing = _find(db, inbound)
    if existing is not None:
        return IntakeResult(existing, created=False, pending_action_ids=())
    planned = plan_actions(registry, HookContext(inbound, catalog, settings))
    try:
        with db.session() as session:
            event = Event(
                source=inbound.source,
                type=inbound.type,
                external_id=inbound.external_id,
                client_id=inbound.client_id,
                payload=inbound.payload,
            )
            session.add(event)
            session.flush()
            actions = [_action_row(event.id, hook, plan) for hook, plan in planned]
            session.add_all(actions)
            session.flush()
            for action in actions:
                reason = action.last_error or f"planned by {action.hook}"
                session.add(
                    ActionTransition(action_id=action.id, from_state=None, to_state=action.state, reason=reason)
                )
            pending = tuple(a.id for a in actions if a.state == State.PENDING)
            event_id = event.id
    except IntegrityError:
        # The same event arrived concurrently and the other request committed first.
        found = _find(db, inbound)
        if found is None:
            raise
        return IntakeResult(found, created=False, pending_action_ids=())
    return IntakeResult(event_id, created=True, pending_action_ids=pending)


def _find(db: Database, inbound: InboundEvent) -> int | None:
    with db.session() as session:
        return session.scalar(
            select(Event.id).where(Event.source == inbound.source, Event.external_id == inbound.external_id)
        )


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
