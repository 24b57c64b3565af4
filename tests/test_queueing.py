"""Claiming and queueing Actions: no Action waits for the relay in normal operation (issue 11)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event

from bridge.models import Action, ActionTransition, Event
from bridge.services import Services
from bridge.states import State
from bridge.transitions import move
from tests.helpers import load_sample, transitions_of


def test_a_claim_does_not_lose_to_a_move_between_claimable_states(svc) -> None:
    """A worker reads the Action's state, and before its UPDATE another transaction moves it
    from one claimable state to another without taking it: here the relay queuing a
    `pending` planning that an older version stored, while a job for it already waits.
    The claim must still win: nobody else will carry the Action out."""
    planning_id = _planning_stored_pending(svc)
    claim_started = threading.Event()

    def watch(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ACTIONS"):  # the claim, after its read
            claim_started.set()

    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(svc.deliverer("w1").deliver(planning_id).state))
    try:
        with svc.db.session() as session:  # the relay, holding the row until it commits
            assert move(session, planning_id, State.QUEUED, "relay: committed but never queued", expect=[State.PENDING])
            event.listen(svc.db.engine, "before_cursor_execute", watch)
            worker.start()
            assert claim_started.wait(timeout=60), "the worker never reached its claim"
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", watch)
        worker.join(timeout=60)

    assert outcome == [State.SENT]
    assert [(t[0], t[1]) for t in transitions_of(svc, planning_id)] == [
        (None, "pending"),
        ("pending", "queued"),
        ("queued", "sending"),
        ("sending", "sent"),
    ]


def _planning_stored_pending(svc: Services) -> int:
    """A ClientAdd event and its planning as a version before this one stored them."""
    params = load_sample("whmcs_hooks", "ClientAdd")
    with svc.db.session() as session:
        stored = Event(
            source="whmcs",
            type="ClientAdd",
            external_id="msg_older_version",
            payload={"event": "ClientAdd", "params": params},
            client_id=str(params["userid"]),
        )
        session.add(stored)
        session.flush()
        planning = Action(
            event_id=stored.id, hook="bridge.planner", channel="plan", recipient="hooks", content={}, state="pending"
        )
        session.add(planning)
        session.flush()
        session.add(
            ActionTransition(
                action_id=planning.id, from_state=None, to_state="pending", reason="planned by bridge.planner"
            )
        )
        return planning.id
