"""Card direct debit, the whole lifecycle: adhesion signed or cancelled, the debit cycle,
debits paid, rejected or reverted.

Real: the bridge, its queue and worker, the database and Redis, and a local Pagos360
stand-in over HTTP (tests.support.pagos360_stand_in). Faked at the HTTP edge: WHMCS's API.
"""

from __future__ import annotations

import base64
import re
import threading
from datetime import date, timedelta

import pytest
import responses
from sqlalchemy import select, update

from bridge.core.states import State
from bridge.planning.direct_debit import debit_day_after
from bridge.scheduled.debit_cycle import next_debit_date, run_debit_cycle, run_if_due
from bridge.services import services
from bridge.store.models import Action, CardAdhesion, DebitPayment, DebitRequest, Event, utcnow
from bridge.wiring import build_deliverer, build_relay
from tests.helpers import actions_of, count, debit_requested, load_sample, plan_of, transitions_of
from tests.support.pagos360_stand_in import pagos360_stand_in
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

TOKEN = "t0ken-for-pagos360-notifications-0123456789"
STAFF = "facturacion@tuhosting.example"


@pytest.fixture
def p360():
    with pagos360_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
def whmcs(p360):
    stand_in = WhmcsStandIn()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        edge.add_passthru(p360.base_url)  # the Pagos360 stand-in is a real local server
        yield stand_in


@pytest.fixture
def app(make_app, p360, whmcs, tmp_path):
    import shutil

    from bridge.core.settings import DEFAULT_CONFIG_DIR

    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = (config / "routing.toml").read_text().replace("emails = []      #", f'emails = ["{STAFF}"]  #')
    (config / "routing.toml").write_text(routing)
    return make_app(
        **SETTINGS,
        PAGOS360_WEBHOOK_TOKEN=TOKEN,
        PAGOS360_API_KEY=p360.api_key,
        PAGOS360_API_BASE=p360.base_url,
        PAGOS360_DEBIT_DAY_FIELD_ID=12,
        BRIDGE_CONFIG_DIR=str(config),
    )


@pytest.fixture
def notify(app):
    def post(name: str, token: str = TOKEN, **changes):
        body = {**load_sample("pagos360", f"webhook.{name}"), **changes}
        return app.test_client().post(f"/webhooks/pagos360/{token}", json=body)

    return post


def _by_channel(svc, event_id):
    found: dict[str, list[Action]] = {}
    for action in actions_of(svc, event_id):
        found.setdefault(action.channel, []).append(action)
    return found


def _customfields(form):
    return base64.b64decode(form["customfields"]).decode()


def test_adhesion_signed_moves_the_client_stores_the_day_and_tells_everyone(app, notify, whmcs, p360, run_worker):
    svc = services(app)
    response = notify("card_adhesion.signed")
    assert response.status_code == 200
    run_worker(app)

    actions = _by_channel(svc, response.get_json()["event_id"])
    assert all(a.state == State.SENT for group in actions.values() for a in group), actions
    [move] = actions["whmcs"]
    assert move.content["params"]["groupid"] == 4  # "Adherido al débito automático", found by name
    expected_day = debit_day_after(utcnow().astimezone(svc.settings.tz).date())
    [update_call] = [form for action, form in whmcs.calls if action == "UpdateClient"]
    assert update_call["groupid"] == "4"
    assert _customfields(update_call) == f'a:1:{{i:12;s:{len(str(expected_day))}:"{expected_day}";}}'
    assert [e.recipient for e in actions["email"]] == ["lucia@radioandina.example", STAFF]
    assert "4417" in actions["whatsapp"][0].content["body"]
    assert str(expected_day) in actions["whatsapp"][0].content["body"]
    with svc.db.session() as session:
        row = session.scalar(select(CardAdhesion))
    assert (row.pagos360_id, row.state, row.card_brand, row.last_four) == ("20871", "signed", "visa", "4417")
    assert (row.debit_day, row.previous_group_id, row.whmcs_client_id) == (expected_day, 0, "1042")
    # The bridge read the adhesion back instead of trusting the notification.
    assert ("GET", "/card-adhesion/20871", None) in p360.requests


def test_an_answer_too_long_for_the_adhesions_record_fails_the_planning_at_once(app, notify, p360, run_worker):
    """Pagos360's answer is mirrored in card_adhesions: a card brand longer than its column
    would fail the commit and be retried eight times; it fails once, naming the field."""
    svc = services(app)
    p360.adhesions[20871]["card"] = "visa-" + "x" * 40
    event_id = notify("card_adhesion.signed").get_json()["event_id"]
    run_worker(app)

    plan = plan_of(svc, event_id)
    assert (plan.state, plan.attempts) == (State.FAILED, 1)
    assert plan.last_error.startswith("field card_adhesion.card: expected text of at most 32 characters, got ")
    assert actions_of(svc, event_id) == [] and count(svc, CardAdhesion) == 0


def test_adhesion_cancelled_restores_the_group_and_alerts_with_the_reason(app, notify, whmcs, p360, run_worker):
    svc = services(app)
    notify("card_adhesion.signed")
    run_worker(app)
    p360.set_adhesion_state(20871, "canceled", "Tarjeta rechazada por el emisor")
    details = load_sample("whmcs_api", "GetClientsDetails")
    details["client"]["groupid"] = 4  # WHMCS now has the client in the debit group
    whmcs.answers["GetClientsDetails"] = details

    event_id = notify("card_adhesion.canceled").get_json()["event_id"]
    run_worker(app)

    actions = _by_channel(svc, event_id)
    assert actions["whmcs"][0].content["params"] == {"clientid": "1042", "groupid": 0}
    staff = [a for a in actions["email"] if a.recipient == STAFF]
    assert "Tarjeta rechazada por el emisor" in staff[0].content["body"]
    assert actions["whatsapp"][0].state == State.SENT
    with svc.db.session() as session:
        assert session.scalar(select(CardAdhesion.state)) == "canceled"


def test_the_api_wins_over_the_notification(app, notify, whmcs, p360, run_worker):
    p360.set_adhesion_state(20871, "canceled", "Anulada por el titular")
    event_id = notify("card_adhesion.signed").get_json()["event_id"]  # says signed; the API says canceled
    run_worker(app)
    actions = _by_channel(services(app), event_id)
    assert "whmcs" not in actions  # never moved into the debit group
    assert any("Anulada por el titular" in a.content.get("body", "") for a in actions["email"])


def test_a_debit_paid_three_times_is_paid_once(app, notify, whmcs, p360, run_worker):
    svc = services(app)
    answers = [notify("card_debit_request.paid") for _ in range(3)]
    assert {r.status_code for r in answers} == {200} and len({r.get_json()["event_id"] for r in answers}) == 1
    run_worker(app)

    [payment] = whmcs.payments
    assert payment["invoiceid"] == "88231" and payment["transid"] == "553201"
    assert payment["gateway"] == "pagos360" and payment["amount"] == "18150.00"
    assert payment["date"] == "2026-11-11 09:12:44"  # Pagos360's time, in the company's zone

    # A retry of the same payment Action (a relay re-queue, a staff retry) finds it there.
    [action] = actions_of(svc, answers[0].get_json()["event_id"])
    with svc.db.session() as session:
        session.execute(update(Action).where(Action.id == action.id).values(state="retrying", next_attempt_at=utcnow()))
    build_relay(svc).run_once()
    run_worker(app)
    assert len(whmcs.payments) == 1
    assert transitions_of(svc, action.id)[-1][1] == "sent"


def test_a_debit_paid_for_a_closed_invoice_adds_nothing_and_alerts_staff(app, notify, whmcs, run_worker):
    whmcs.answers["GetInvoice"] = load_sample("whmcs_api", "GetInvoice.paid")
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    actions = actions_of(services(app), event_id)
    assert whmcs.payments == []
    assert [(a.channel, a.state) for a in actions] == [("none", "skipped"), ("email", "sent")]
    assert "A-0088231" in actions[1].content["subject"]


def test_a_rejected_debit_tells_the_client_and_the_staff_why(app, notify, run_worker):
    event_id = notify("card_debit_request.rejected").get_json()["event_id"]
    run_worker(app)
    actions = actions_of(services(app), event_id)
    assert {a.channel for a in actions} == {"whatsapp", "email", "whmcs"}
    [mark] = [a for a in actions if a.channel == "whmcs"]  # for the PHP file's reminder emails
    assert mark.state == State.SENT and "[pagos360:rejected] Pagos360 debit" in mark.content["params"]["notes"]
    assert all("Fondos insuficientes" in (a.content.get("body") or "") for a in actions if a.recipient == STAFF)
    assert any("Fondos insuficientes" in a.content.get("body", "") for a in actions if a.channel == "whatsapp")


def test_a_reverted_debit_is_flagged_for_staff_only(app, notify, p360, whmcs, run_worker):
    p360.set_debit_request_state(553201, "reverted")
    event_id = notify("card_debit_request.paid", type="reverted").get_json()["event_id"]
    run_worker(app)
    actions = actions_of(services(app), event_id)
    assert [(a.channel, a.recipient) for a in actions] == [("email", STAFF)]
    assert whmcs.payments == []


def _signed_adhesion(svc, debit_day: int) -> None:
    with svc.db.session() as session:
        session.add(
            CardAdhesion(
                pagos360_id="20871", whmcs_client_id="1042", state="signed", debit_day=debit_day, last_four="4417"
            )
        )


def test_the_debit_cycle_asks_once_per_invoice_and_cycle(app, p360, run_worker):
    svc = services(app)
    today = date(2026, 11, 20)
    _signed_adhesion(svc, debit_day=22)  # within the 3-day lead time

    first = run_debit_cycle(svc, today)
    second = run_debit_cycle(svc, today)  # a second run the same day, or after a restart
    run_worker(app)
    third = run_debit_cycle(svc, today + timedelta(days=1))

    assert first.requested == ["88231"] and second.requested == [] and second.already == ["88231"]
    assert third.requested == [] and third.already == ["88231"]
    created = [body for method, path, body in p360.requests if method == "POST"]
    assert created == [
        {
            "card_debit_request": {
                "card_adhesion_id": 20871,
                "amount": 18150.0,
                "month": 11,
                "year": 2026,
                "description": "Factura A-0088231",
                "metadata": {"whmcs_invoice_id": "88231", "whmcs_client_id": "1042"},
            }
        }
    ]
    with svc.db.session() as session:
        [row] = session.scalars(select(DebitRequest)).all()
        assert (row.cycle, str(row.amount)) == ("2026-11", "18150.00")
        assert session.get(Action, row.action_id).provider_ref == str(max(p360.debit_requests))


def test_two_cycles_at_once_make_one_request(app, p360, run_worker):
    svc = services(app)
    _signed_adhesion(svc, debit_day=22)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(run_debit_cycle(svc, date(2026, 11, 21)))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_worker(app)
    assert sorted(len(r.requested) for r in reports) == [0, 1]
    assert len([1 for method, _, _ in p360.requests if method == "POST"]) == 1


def test_clients_whose_debit_day_is_far_are_left_for_later(app, p360):
    svc = services(app)
    _signed_adhesion(svc, debit_day=28)
    assert run_debit_cycle(svc, date(2026, 11, 20)).clients == 0
    assert next_debit_date(31, date(2026, 2, 10)) == date(2026, 2, 28)
    assert next_debit_date(5, date(2026, 12, 20)) == date(2027, 1, 5)


def test_a_debit_request_lost_mid_call_is_not_repeated(app, p360, run_worker):
    """The worker died while asking Pagos360: the request may exist, so nobody asks again."""
    svc = services(app)
    _signed_adhesion(svc, debit_day=22)
    run_debit_cycle(svc, date(2026, 11, 20))
    with svc.db.session() as session:
        action_id = session.scalar(select(DebitRequest.action_id))
        session.execute(update(Action).where(Action.id == action_id).values(state="sending", attempts=1))
    late = utcnow() + timedelta(seconds=svc.settings.relay_sending_timeout_seconds + 1)
    assert build_relay(svc).run_once(now=late).recovered_sending == [action_id]
    run_worker(app)
    assert not [1 for method, _, _ in p360.requests if method == "POST"]
    with svc.db.session() as session:
        action = session.get(Action, action_id)
    assert action.state == State.FAILED and "check the provider before retrying" in action.last_error


def test_the_relay_runs_the_cycle_once_a_day_after_the_hour(app, p360):
    svc = services(app)
    _signed_adhesion(svc, debit_day=(utcnow().astimezone(svc.settings.tz).date() + timedelta(days=1)).day)
    local = utcnow().astimezone(svc.settings.tz)
    morning = local.replace(hour=svc.settings.debit_cycle_hour, minute=5)
    assert run_if_due(svc, morning.replace(hour=max(svc.settings.debit_cycle_hour - 1, 0))) is None or (
        svc.settings.debit_cycle_hour == 0
    )
    first = run_if_due(svc, morning)
    assert first is not None and first.requested == ["88231"]
    assert run_if_due(svc, morning + timedelta(hours=3)) is None


@pytest.mark.parametrize("broken", ["pagos360", "whmcs"])
def test_pagos360_or_whmcs_down_is_retried_and_nothing_is_lost(broken, app, notify, p360, whmcs, run_worker):
    svc = services(app)
    p360.down = broken == "pagos360"
    whmcs.down = broken == "whmcs"
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    plan = plan_of(svc, event_id)
    assert plan.state == State.RETRYING and "503" in plan.last_error

    p360.down = whmcs.down = False  # back up: the retry goes through, and pays once
    build_relay(svc).run_once(now=utcnow() + timedelta(hours=1))
    run_worker(app)
    assert plan_of(svc, event_id).state == State.SENT
    assert len(whmcs.payments) == 1


def test_other_entities_are_recorded_and_ignored(app, notify, run_worker):
    response = notify("card_debit_request.paid", entity_name="payment_request", entity_id=777)
    assert response.status_code == 200
    run_worker(app)
    plan = plan_of(services(app), response.get_json()["event_id"])
    assert (
        transitions_of(services(app), plan.id)[-1][2]
        == "no handler for pagos360 payment_request: recorded, nothing to do"
    )


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        (
            "wrong-token-wrong-token-wrong-token",
            {"entity_name": "card_adhesion", "entity_id": 1, "type": "signed"},
            404,
        ),
        (TOKEN, {"entity_name": "card_adhesion", "type": "signed"}, 400),
        (TOKEN, {"entity_name": "card_adhesion", "entity_id": "../x", "type": "signed"}, 400),
        (TOKEN, {"entity_name": "Card Adhesion!", "entity_id": 1, "type": "signed"}, 400),
        (TOKEN, [1, 2], 400),
    ],
    ids=["wrong-token", "no-id", "bad-id", "bad-entity", "not-an-object"],
)
def test_bad_notifications_are_refused_and_store_nothing(token, body, status, app):
    response = app.test_client().post(f"/webhooks/pagos360/{token}", json=body)
    assert response.status_code == status
    assert count(services(app), Event) == 0


def test_malformed_json_is_400_and_the_token_is_never_logged(app, caplog):
    response = app.test_client().post(
        f"/webhooks/pagos360/{TOKEN}", data=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert TOKEN not in caplog.text and "/webhooks/pagos360/<token>" in caplog.text


def test_without_a_configured_token_the_endpoint_does_not_exist(make_app):
    app = make_app()
    assert app.test_client().post(f"/webhooks/pagos360/{TOKEN}", json={}).status_code == 404
    assert re.fullmatch(r"[A-Za-z0-9-]+", TOKEN)


# -- a payment lands only where it belongs, and once ------------------------------------------


def _invoice(**changes):
    return {**load_sample("whmcs_api", "GetInvoice"), **changes}


def _refused(svc, event_id):
    """The event's decision not to pay (skipped, with the reason) and the staff email."""
    actions = actions_of(svc, event_id)
    assert [(a.channel, a.state) for a in actions] == [("none", "skipped"), ("email", "sent")], actions
    none, email = actions
    reason = transitions_of(svc, none.id)[-1][2]
    assert email.recipient == STAFF and reason.startswith("payment not added: ")
    assert reason.removeprefix("payment not added: ") in email.content["body"]
    return reason


def test_a_debit_is_not_paid_into_another_clients_invoice(app, notify, whmcs, run_worker):
    whmcs.answers["GetInvoice"] = _invoice(userid="2077")  # the metadata names someone else's invoice
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    assert whmcs.payments == []
    reason = _refused(services(app), event_id)
    assert "invoice A-0088231 belongs to client 2077, not to client 1042" in reason


def test_a_debit_the_bridge_did_not_request_must_pay_the_invoice_balance(app, notify, whmcs, run_worker):
    whmcs.answers["GetInvoice"] = _invoice(balance="9000.00")  # partly paid since
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    assert whmcs.payments == []
    reason = _refused(services(app), event_id)
    assert "charged 18150.00, but the balance of invoice A-0088231 is 9000.00" in reason


def _requested_and_paid(app, p360, run_worker, charged: float) -> str:
    """The debit cycle asks Pagos360 for invoice 88231's balance; Pagos360 charges `charged`."""
    svc = services(app)
    _signed_adhesion(svc, debit_day=22)
    assert run_debit_cycle(svc, date(2026, 11, 20)).requested == ["88231"]
    run_worker(app)
    request_id = max(p360.debit_requests)
    p360.set_debit_request_state(request_id, "paid")
    p360.debit_requests[request_id]["amount"] = charged
    return str(request_id)


def test_a_debit_the_bridge_requested_must_charge_what_it_asked_for(app, notify, p360, whmcs, run_worker):
    request_id = _requested_and_paid(app, p360, run_worker, charged=15000.0)
    event_id = notify("card_debit_request.paid", entity_id=int(request_id)).get_json()["event_id"]
    run_worker(app)
    assert whmcs.payments == []
    reason = _refused(services(app), event_id)
    assert f"debit {request_id} charged 15000.00, but the bridge requested 18150.00" in reason


def test_a_debit_the_bridge_requested_is_paid_for_what_it_asked(app, notify, p360, whmcs, run_worker):
    request_id = _requested_and_paid(app, p360, run_worker, charged=18150.0)
    whmcs.answers["GetInvoice"] = _invoice(balance="9000.00")  # its own request's amount rules
    event_id = notify("card_debit_request.paid", entity_id=int(request_id)).get_json()["event_id"]
    run_worker(app)
    [payment] = whmcs.payments
    assert (payment["transid"], payment["amount"]) == (request_id, "18150.00")
    [action] = actions_of(services(app), event_id)
    assert action.content["requested_amount"] == "18150.00" and action.content["clientid"] == "1042"


@pytest.mark.parametrize(
    ("metadata", "get_invoice", "expected"),
    [
        ({}, None, "debit 553201 names no WHMCS invoice"),
        (
            {"whmcs_invoice_id": 99999},
            {"result": "error", "message": "Invoice ID Not Found"},
            "invoice 99999 named by debit 553201: WHMCS GetInvoice: Invoice ID Not Found",
        ),
    ],
    ids=["no-invoice", "invoice-not-in-whmcs"],
)
def test_a_debit_without_its_invoice_is_not_paid_and_staff_are_told(
    metadata, get_invoice, expected, app, notify, p360, whmcs, run_worker
):
    p360.debit_requests[553201]["metadata"] = metadata
    if get_invoice:
        whmcs.answers["GetInvoice"] = get_invoice
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    assert whmcs.payments == []
    assert expected in _refused(services(app), event_id)


def test_the_invoice_is_checked_again_right_before_the_payment(app, notify, whmcs):
    """Planned against one invoice; by the time the payment runs, WHMCS says otherwise."""
    svc = services(app)
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    assert build_deliverer(svc).deliver(plan_of(svc, event_id).id).state == State.SENT
    [payment] = actions_of(svc, event_id)
    whmcs.answers["GetInvoice"] = _invoice(userid="2077")
    outcome = build_deliverer(svc).deliver(payment.id)
    assert outcome.state == State.FAILED and "belongs to client 2077, not to client 1042" in outcome.detail
    assert whmcs.payments == [] and count(svc, DebitPayment) == 0


def test_a_payment_whose_outcome_is_unknown_is_never_sent_again(app, notify, whmcs, run_worker):
    """WHMCS answered AddInvoicePayment with a 500: it may have recorded the payment. The
    retry looks for it on the invoice; not there, it fails for staff instead of paying again."""
    svc = services(app)
    whmcs.http_errors["AddInvoicePayment"] = 500
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    [payment] = actions_of(svc, event_id)
    assert payment.state == State.RETRYING and "may have recorded payment 553201" in payment.last_error

    del whmcs.http_errors["AddInvoicePayment"]
    build_relay(svc).run_once(now=utcnow() + timedelta(hours=1))
    run_worker(app)
    with svc.db.session() as session:
        payment = session.get_one(Action, payment.id)
    assert whmcs.actions().count("AddInvoicePayment") == 1 and whmcs.payments == []
    assert payment.state == State.FAILED and "Not added again" in payment.last_error


def test_a_payment_whmcs_refused_can_be_retried(app, notify, whmcs, run_worker):
    """WHMCS said no (nothing added): the claim is let go, and a retry adds the payment."""
    svc = services(app)
    whmcs.answers["AddInvoicePayment"] = {"result": "error", "message": "Invalid Payment Gateway"}
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    [payment] = actions_of(svc, event_id)
    assert payment.state == State.FAILED and "Invalid Payment Gateway" in payment.last_error
    assert count(svc, DebitPayment) == 0

    del whmcs.answers["AddInvoicePayment"]  # the gateway fixed in WHMCS; staff retry
    with svc.db.session() as session:
        session.execute(
            update(Action).where(Action.id == payment.id).values(state="retrying", next_attempt_at=utcnow())
        )
    build_relay(svc).run_once()
    run_worker(app)
    assert [p["transid"] for p in whmcs.payments] == ["553201"]
    assert transitions_of(svc, payment.id)[-1][1] == "sent"


def test_a_second_notification_after_the_payment_plans_no_closed_invoice_alert(app, notify, whmcs, run_worker):
    """Another `type` for the paid debit, after its payment landed: nothing to do, no alarm."""
    svc = services(app)
    first = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    [payer] = actions_of(svc, first)
    second = notify("card_debit_request.paid", type="approved").get_json()["event_id"]
    run_worker(app)
    assert len(whmcs.payments) == 1
    [none] = actions_of(svc, second)
    assert none.channel == "none"
    assert (
        transitions_of(svc, none.id)[-1][2] == f"debit 553201 is already on invoice 88231 (added by action {payer.id})"
    )


@pytest.mark.parametrize("landed", [True, False], ids=["whmcs-recorded-it", "whmcs-did-not"])
def test_another_notification_meets_a_claim_left_without_an_answer(landed, app, notify, whmcs, run_worker):
    """The first payment got a 500 (its outcome unknown, its claim kept). A notification of
    the same debit under another `type` plans a second payment Action: it asks WHMCS, and
    never sends the payment again."""
    svc = services(app)
    whmcs.http_errors["AddInvoicePayment"] = 500
    first = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    [claimer] = actions_of(svc, first)
    assert claimer.state == State.RETRYING
    del whmcs.http_errors["AddInvoicePayment"]
    if landed:  # WHMCS recorded the payment before it failed to answer
        whmcs.payments.append({"invoiceid": "88231", "transid": "553201", "amount": "18150.00"})

    second = notify("card_debit_request.paid", type="approved").get_json()["event_id"]
    run_worker(app)
    [other] = actions_of(svc, second)
    assert whmcs.actions().count("AddInvoicePayment") == 1
    with svc.db.session() as session:
        row = session.scalar(select(DebitPayment))
    if landed:
        assert other.state == State.SENT and transitions_of(svc, other.id)[-1][2] == "already recorded on the invoice"
        assert (row.state, row.action_id) == ("done", claimer.id)
    else:
        assert other.state == State.FAILED and f"action {claimer.id} claimed it" in other.last_error
        assert "Not added again" in other.last_error and row.state == "claimed"


def test_the_payment_record_outlives_the_logs_retention(app, notify, whmcs, run_worker):
    """Pruning old events takes their Actions and attempts, not the record that the debit
    was paid: the same debit notified again later is still not paid twice."""
    from bridge.logpage.retention import prune

    svc = services(app)
    notify("card_debit_request.paid")
    run_worker(app)
    with svc.db.session() as session:
        session.execute(update(Event).values(received_at=utcnow() - timedelta(days=400)))
    assert prune(svc.db, days=180) == 1
    with svc.db.session() as session:
        row = session.scalar(select(DebitPayment))
    assert (row.state, row.action_id, row.attempt_id) == ("done", None, None)

    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    assert len(whmcs.payments) == 1
    [none] = actions_of(svc, event_id)
    assert transitions_of(svc, none.id)[-1][2] == "debit 553201 is already on invoice 88231 (added earlier)"


def test_a_debit_amount_that_is_not_an_amount_fails_the_planning_naming_it(app, notify, whmcs, p360, run_worker):
    p360.debit_requests[553201]["amount"] = "18150,00 ARS"  # never read as "no amount"
    event_id = notify("card_debit_request.paid").get_json()["event_id"]
    run_worker(app)
    plan = plan_of(services(app), event_id)
    assert (plan.state, plan.attempts) == (State.FAILED, 1)
    assert plan.last_error == "field card_debit_request.amount: expected an amount, got '18150,00 ARS'"
    assert whmcs.payments == []


def test_the_debit_cycle_reports_an_invoice_balance_that_is_not_an_amount(app, whmcs, p360):
    svc = services(app)
    _signed_adhesion(svc, debit_day=22)
    whmcs.answers["GetInvoice"] = _invoice(balance="n/a")

    report = run_debit_cycle(svc, date(2026, 11, 20))

    assert report.requested == []
    assert report.errors == ["invoice 88231: field GetInvoice.balance: expected an amount, got 'n/a'"]
    assert [method for method, _, _ in p360.requests if method == "POST"] == []


@pytest.mark.parametrize(
    ("immediate", "ends_on", "debited"),
    [
        (True, None, False),  # cancelled at once: no more debits for it
        (False, date(2026, 11, 10), False),  # ends when this invoice's period would start
        (False, date(2026, 12, 10), True),  # this invoice is for a period it still has
    ],
    ids=["immediate", "end-of-period-reached", "end-of-period-ahead"],
)
def test_the_debit_cycle_asks_nothing_for_a_service_the_client_cancelled(immediate, ends_on, debited, app, p360):
    from bridge.store.models import ServiceCancellation

    svc = services(app)
    _signed_adhesion(svc, debit_day=22)
    with svc.db.session() as session:  # as the CancellationRequest's `cancellation` Action keeps it
        session.add(ServiceCancellation(service_id="5521", client_id="1042", immediate=immediate, ends_on=ends_on))
    report = run_debit_cycle(svc, date(2026, 11, 20))
    assert report.requested == (["88231"] if debited else [])
    assert report.cancelled == ([] if debited else ["88231"])
    assert ("1 left out (service cancelled)" in report.summary()) is not debited


@pytest.mark.parametrize("earlier", ["rejected", "paid"])
def test_debits_rejected_two_cycles_in_a_row_take_the_client_out_of_the_debit_group(
    earlier, app, notify, whmcs, p360, run_worker
):
    svc = services(app)
    with svc.db.session() as session:
        session.add(
            CardAdhesion(pagos360_id="20871", whmcs_client_id="1042", state="signed", debit_day=22, previous_group_id=1)
        )
    debit_requested(svc, invoice_id="invoice-2026-10", cycle="2026-10", outcome=earlier, pagos360_id="553100")
    # The one this notification rejects.
    debit_requested(svc, invoice_id="invoice-2026-11", cycle="2026-11", outcome=None, pagos360_id="553202")
    event_id = notify("card_debit_request.rejected").get_json()["event_id"]
    run_worker(app)

    by_channel = _by_channel(svc, event_id)
    moves = [a for a in by_channel["whmcs"] if a.content["action"] == "UpdateClient"]
    texts = " ".join(a.content.get("body", "") for a in by_channel["email"] + by_channel["whatsapp"])
    if earlier == "paid":  # one rejected cycle after a paid one: nothing moves yet
        assert moves == [] and "DebitGroupLeft" not in texts
        return
    [move] = moves
    assert move.content["params"] == {"clientid": "1042", "groupid": 1} and move.state == State.SENT
    assert any("2" in a.content.get("body", "") and a.recipient == STAFF for a in by_channel["email"])
    with svc.db.session() as session:
        assert session.scalar(select(CardAdhesion.left_group_at)) is not None
    # The cycle asks nothing more of that card, and a second notification moves nobody again.
    assert run_debit_cycle(svc, date(2026, 12, 20)).clients == 0
    again = notify("card_debit_request.rejected", type="expired").get_json()["event_id"]
    run_worker(app)
    assert not [a for a in _by_channel(svc, again).get("whmcs", []) if a.content["action"] == "UpdateClient"]


@pytest.mark.parametrize("exempt", ["on", ""])
def test_the_debit_groups_suspension_exemption_is_checked_and_staff_told(exempt, app, whmcs, run_worker):
    from bridge.scheduled import debit_group_check

    svc = services(app)
    groups = load_sample("whmcs_api", "GetClientGroups")
    groups["groups"]["group"][1]["susptermexempt"] = exempt
    whmcs.answers["GetClientGroups"] = groups
    now = utcnow()
    assert debit_group_check.run_if_due(svc, now) is (exempt == "on")
    assert debit_group_check.run_if_due(svc, now) is None  # checked: not again this pass
    run_worker(app)
    readyz = app.test_client().get("/readyz").get_json()
    alerts = [e for e in _events(svc) if e.type == "DebitGroupNotExempt"]
    if exempt:
        assert readyz["checks"]["debit_group"] == "ok" and alerts == []
        return
    assert readyz["checks"]["debit_group"].startswith(
        "warning: group 'Adherido al débito automático' (4) is not exempt"
    )
    [alert] = alerts
    [email] = [a for a in actions_of(svc, alert.id) if a.channel == "email"]
    assert email.recipient == STAFF and email.state == State.SENT
    debit_group_check.run_if_due(svc, now)  # still not exempt at the next pass: no second alert today
    assert len([e for e in _events(svc) if e.type == "DebitGroupNotExempt"]) == 1


def test_whmcs_unreachable_leaves_the_check_for_the_next_pass(app, whmcs):
    from bridge.scheduled import debit_group_check

    svc = services(app)
    whmcs.down = True
    assert debit_group_check.run_if_due(svc, utcnow()) is None
    whmcs.down = False
    assert debit_group_check.run_if_due(svc, utcnow()) is True


def _events(svc) -> list[Event]:
    with svc.db.session() as session:
        rows = session.scalars(select(Event)).all()
        session.expunge_all()
        return list(rows)


def test_a_debit_clients_suspension_alerts_staff(app, whmcs, run_worker):
    from bridge.inbound.signing import signed_request
    from tests.helpers import SECRET

    svc = services(app)
    with svc.db.session() as session:
        session.add(CardAdhesion(pagos360_id="20871", whmcs_client_id="1042", state="signed", debit_day=22))
    body, headers = signed_request(SECRET, "AfterModuleSuspend", load_sample("whmcs_hooks", "AfterModuleSuspend"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker(app)
    to_staff = [a for a in actions_of(svc, event_id) if a.recipient == STAFF]
    assert any("débito" in a.content["subject"].lower() or "débito" in a.content["body"] for a in to_staff), to_staff
