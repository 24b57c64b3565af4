"""Accepting a paid order once (bridge.work.orders): the `order_activations` claim, against
the database under test (SQLite here, PostgreSQL in CI's second run), WHMCS at the HTTP edge."""

from __future__ import annotations

import threading

import pytest
import responses
from sqlalchemy import select

from bridge.core.actions import PlannedAction
from bridge.core.events import InboundEvent
from bridge.services import services
from bridge.store.models import Action, Attempt, OrderActivation
from bridge.store.outbox import record_event, store_planned
from bridge.work.orders import OrderActivator, OrderInOtherHands
from providers.base import ProviderError
from providers.whmcs_api import WhmcsApi, WhmcsOrders
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn


@pytest.fixture
def stand_in():
    stand_in = WhmcsStandIn()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        yield stand_in


@pytest.fixture
def svc(make_app):
    return services(make_app(**SETTINGS))


def _activator(svc) -> OrderActivator:
    api = WhmcsApi(url=SETTINGS["WHMCS_API_URL"], identifier="i", secret="s")
    return OrderActivator(svc.db, WhmcsOrders(api))


def _order_action(svc, n: int = 1) -> tuple[Action, int]:
    """An Action to accept order 4410 with an open attempt, as the deliverer hands it over."""
    event = record_event(svc.db, InboundEvent("whmcs", "OrderPaid", f"test-{n}", {}), plan_on=None)
    with svc.db.session() as session:
        [action_id] = store_planned(
            session,
            svc.queue,
            event.event_id,
            [("test", PlannedAction("whmcs_order", "order 4410", {"order_id": "4410"}))],
        )
        attempt = Attempt(action_id=action_id, number=1)
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
        action = session.get_one(Action, action_id)
        session.expunge(action)
    return action, attempt_id


def _close(svc, attempt_id: int) -> None:
    with svc.db.session() as session:
        session.get_one(Attempt, attempt_id).outcome = "lost"


def _claim(svc) -> OrderActivation | None:
    with svc.db.session() as session:
        return session.scalar(select(OrderActivation))


def test_an_order_another_action_is_accepting_right_now_is_left_to_it(svc, stand_in):
    first, first_attempt = _order_action(svc, 1)
    second, second_attempt = _order_action(svc, 2)
    with svc.db.session() as session:
        session.add(OrderActivation(order_id="4410", state="claimed", action_id=first.id, attempt_id=first_attempt))
    with pytest.raises(OrderInOtherHands, match=f"being accepted by action {first.id}"):
        _activator(svc).carry_out(second, second_attempt)
    assert stand_in.calls == []


@pytest.mark.parametrize("active", [True, False], ids=["landed", "not-landed"])
def test_a_claim_whose_worker_died_is_taken_over_after_getorders(active, svc, stand_in):
    first, first_attempt = _order_action(svc, 1)
    with svc.db.session() as session:
        session.add(OrderActivation(order_id="4410", state="claimed", action_id=first.id, attempt_id=first_attempt))
    _close(svc, first_attempt)  # the relay gave the attempt up
    if active:
        stand_in.accepted_orders.append("4410")
    second, second_attempt = _order_action(svc, 2)
    _activator(svc).carry_out(second, second_attempt)
    assert stand_in.actions() == (["GetOrders"] if active else ["GetOrders", "AcceptOrder"])
    claim = _claim(svc)
    assert claim is not None and (claim.state, claim.action_id) == ("done", second.id)


def test_an_answer_that_never_came_keeps_the_claim_and_is_never_accepted_twice(svc, stand_in):
    action, attempt = _order_action(svc)
    stand_in.http_errors["AcceptOrder"] = 502
    with pytest.raises(ProviderError) as raised:
        _activator(svc).carry_out(action, attempt)
    assert not raised.value.permanent
    claim = _claim(svc)
    assert claim is not None and claim.state == "claimed"

    del stand_in.http_errors["AcceptOrder"]
    stand_in.accepted_orders.append("4410")  # WHMCS had accepted it before the proxy failed
    _close(svc, attempt)
    retry_attempt = _order_action(svc, 9)[1]
    result = _activator(svc).carry_out(action, retry_attempt)
    assert result.detail["note"] == "already active in WHMCS"
    assert stand_in.actions().count("AcceptOrder") == 1


def test_an_order_cancelled_in_whmcs_is_not_accepted_and_staff_read_why(svc, stand_in):
    orders = WhmcsStandIn._sample("GetOrders")
    orders["orders"]["order"][0]["status"] = "Cancelled"
    stand_in.answers["GetOrders"] = orders
    action, attempt = _order_action(svc)
    with pytest.raises(ProviderError, match="order 4410 is Cancelled in WHMCS: not accepted") as raised:
        _activator(svc).carry_out(action, attempt)
    assert raised.value.permanent and _claim(svc) is None
    assert "AcceptOrder" not in stand_in.actions()


def test_eight_workers_at_once_accept_the_order_once(svc, stand_in):
    claimants = [_order_action(svc, n) for n in range(8)]
    outcomes: list[str] = []

    def accept(action: Action, attempt: int) -> None:
        try:
            outcomes.append(str(_activator(svc).carry_out(action, attempt).detail["note"]))
        except OrderInOtherHands:
            outcomes.append("in other hands")

    threads = [threading.Thread(target=accept, args=claim) for claim in claimants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stand_in.actions().count("AcceptOrder") == 1
    assert len(outcomes) == 8 and outcomes.count("accepted with AcceptOrder (auto-setup)") == 1
