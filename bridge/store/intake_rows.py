"""The intake's writes: an event and its planning Action, with the Action's first transition.

This is the one write on the webhook's request path, so it is built for speed (issue 16):
SQLAlchemy Core statements, not the ORM's unit of work, and on PostgreSQL a single statement
(three INSERTs chained by data-modifying CTEs: one round trip, then the commit). The rows are
the same on both backends, and the same as `bridge.store.outbox.store_planned` writes for any
other Action: `tests/store/test_intake_rows.py` compares them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Connection, bindparam, insert, text
from sqlalchemy.orm import Session

from bridge.core.actions import PLAN_CHANNEL
from bridge.core.states import State
from bridge.store.insert_new import dialect_of, insert_new
from bridge.store.models import UTCDateTime, utcnow
from bridge.store.tables import ACTIONS, EVENTS, TRANSITIONS

EVENT_KEY = ("source", "external_id")  # the unique key a repeated event conflicts on
QUEUED = str(State.QUEUED)


def store_event_and_planning(
    on: Session | Connection, event: dict[str, Any], *, hook: str, reason: str
) -> tuple[int, int] | None:
    """Insert the event (`event`: its column values) unless the same (source, external_id) is
    stored, and with it its planning Action, `queued`, and that Action's first transition
    (None -> queued, `reason`). Returns (event id, planning id), or None when the event was
    stored before: then nothing is written.

    The caller owns the transaction and queues the planning's job after the commit. On
    PostgreSQL this is one statement, atomic by itself: `on` may be an autocommit connection
    (bridge.store.db.Database.autocommit). On SQLite it is three, and needs the caller's
    transaction."""
    now = utcnow()
    planning = {
        "hook": hook,
        "channel": PLAN_CHANNEL,
        "recipient": "hooks",
        "content": {},
        "state": QUEUED,
        "attempts": 0,
        "dry_run": False,
        "created_at": now,
        "updated_at": now,
    }
    if dialect_of(on) == "postgresql":
        return _in_one_statement(on, event, planning, reason)
    event_id = on.scalar(insert_new(on, EVENTS, event, EVENT_KEY).returning(EVENTS.c.id))
    if event_id is None:
        return None
    planning_id = on.scalar(insert(ACTIONS).values(event_id=event_id, **planning).returning(ACTIONS.c.id))
    assert planning_id is not None
    first = {"action_id": planning_id, "from_state": None, "to_state": QUEUED, "reason": reason, "at": now}
    on.execute(insert(TRANSITIONS).values(first))
    return event_id, planning_id


# One round trip on PostgreSQL: data-modifying CTEs run once and to completion whether or not
# the final SELECT reads them, and an event stored before (ON CONFLICT DO NOTHING) returns no
# row, so nothing is inserted after it. Written once as text: SQLAlchemy does not cache the
# compiled form of INSERTs nested in CTEs, and compiling it on every request cost more than
# the three separate statements did.
_ONE_STATEMENT = text(
    """
    WITH new_event AS (
        INSERT INTO events (source, type, external_id, client_id, received_at, payload, search_text)
        VALUES (:source, :type, :external_id, :client_id, :received_at, :payload, :search_text)
        ON CONFLICT (source, external_id) DO NOTHING
        RETURNING id
    ), planning AS (
        INSERT INTO actions
            (event_id, hook, channel, recipient, content, state, attempts, dry_run, created_at, updated_at)
        SELECT id, :hook, :channel, :recipient, :content, :state, :attempts, :dry_run, :created_at, :updated_at
        FROM new_event
        RETURNING id, event_id
    ), first_transition AS (
        INSERT INTO action_transitions (action_id, from_state, to_state, reason, at)
        SELECT id, NULL, :state, :reason, :created_at FROM planning
    )
    SELECT event_id, id FROM planning
    """
).bindparams(
    bindparam("received_at", type_=UTCDateTime()),
    bindparam("payload", type_=JSON()),
    bindparam("content", type_=JSON()),
    bindparam("created_at", type_=UTCDateTime()),
    bindparam("updated_at", type_=UTCDateTime()),
)


def _in_one_statement(
    on: Session | Connection, event: dict[str, Any], planning: dict[str, Any], reason: str
) -> tuple[int, int] | None:
    row = on.execute(_ONE_STATEMENT, {**event, **planning, "reason": reason}).first()
    return (row[0], row[1]) if row is not None else None
