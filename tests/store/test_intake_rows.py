"""The intake's own write (bridge.store.intake_rows): on PostgreSQL one statement, on SQLite
three, and on both the same rows `store_planned` writes for any planning Action."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from bridge.core.actions import PLAN_CHANNEL, PlannedAction
from bridge.core.events import InboundEvent
from bridge.store.intake_rows import store_event_and_planning
from bridge.store.models import Action, ActionTransition, Event, utcnow
from bridge.store.outbox import PLANNER, RECEIVED, record_event, record_event_in, store_planned
from tests.helpers import count, plan_of, transitions_of

COMPARED = ("hook", "channel", "recipient", "content", "state", "attempts", "dry_run", "last_error", "replay_of_id")


def _inbound(external_id: str) -> InboundEvent:
    return InboundEvent(
        source="whmcs",
        type="InvoiceCreated",
        external_id=external_id,
        payload={"event": "InvoiceCreated", "params": {"invoiceid": "88231", "nota": "año ñandú"}},
        client_id="42",
    )


def test_the_intake_writes_the_rows_store_planned_writes(svc):
    fast = record_event(svc.db, _inbound("msg_fast"), plan_on=svc.queue)
    with svc.db.session() as session:
        slow_event = record_event_in(session, _inbound("msg_slow"), plan_on=None)
        assert slow_event is not None
        store_planned(
            session, svc.queue, slow_event, [(PLANNER, PlannedAction(PLAN_CHANNEL, "hooks", {}))], reason=RECEIVED
        )

    fast_plan, slow_plan = plan_of(svc, fast.event_id), plan_of(svc, slow_event)
    assert {c: getattr(fast_plan, c) for c in COMPARED} == {c: getattr(slow_plan, c) for c in COMPARED}
    assert fast_plan.state == "queued" and fast_plan.hook == "bridge.planner"
    assert transitions_of(svc, fast_plan.id) == transitions_of(svc, slow_plan.id) == [(None, "queued", RECEIVED)]
    with svc.db.session() as session:
        event = session.get(Event, fast.event_id)
        transition = session.scalars(select(ActionTransition).where(ActionTransition.action_id == fast_plan.id)).one()
        assert event is not None
        assert (event.source, event.type, event.external_id, event.client_id) == (
            "whmcs",
            "InvoiceCreated",
            "msg_fast",
            "42",
        )
        assert event.payload["params"]["nota"] == "año ñandú"  # stored as JSON, readable
        assert "msg_fast" in (event.search_text or "")
        # One clock for the planning and its first transition, in UTC, as the ORM writes them.
        assert fast_plan.created_at == fast_plan.updated_at == transition.at
        assert fast_plan.created_at.tzinfo is not None and fast_plan.created_at.utcoffset() == UTC.utcoffset(None)


def test_the_planning_is_queued_after_the_commit(svc):
    result = record_event(svc.db, _inbound("msg_queued"), plan_on=svc.queue)

    assert svc.queue.lost([plan_of(svc, result.event_id).id]) == set()  # its job waits on Redis
    assert svc.queue.depth() == 1


def test_an_event_stored_before_writes_nothing_more(svc):
    first = record_event(svc.db, _inbound("msg_twice"), plan_on=svc.queue)
    actions, transitions = count(svc, Action), count(svc, ActionTransition)

    with svc.db.session() as session:
        again = store_event_and_planning(
            session,
            {
                "source": "whmcs",
                "type": "InvoiceCreated",
                "external_id": "msg_twice",
                "client_id": None,
                "payload": {},
                "search_text": None,
                "received_at": utcnow(),
            },
            hook=PLANNER,
            reason=RECEIVED,
        )
    second = record_event(svc.db, _inbound("msg_twice"), plan_on=svc.queue)

    assert again is None
    assert (second.event_id, second.created) == (first.event_id, False)
    assert (count(svc, Action), count(svc, ActionTransition)) == (actions, transitions)
    assert svc.queue.depth() == 1  # the first copy's job only
    assert count(svc, Event) == 1


def test_a_rolled_back_intake_leaves_no_row_and_no_job(svc):
    try:
        with svc.db.session() as session:
            assert record_event_in(session, _inbound("msg_rolled_back"), plan_on=svc.queue) is not None
            raise RuntimeError("the caller's own write failed")
    except RuntimeError:
        pass

    assert (count(svc, Event), count(svc, Action), count(svc, ActionTransition)) == (0, 0, 0)
    assert svc.queue.depth() == 0
