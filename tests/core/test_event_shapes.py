"""A valid event with a field of the wrong shape costs one Action, not eight retries.

The event is signed and stored like any other; the planning reads a list where an object
belongs, or letters where a number belongs, and fails at once, naming the field. Real:
the webhook, the queue, the worker, the database. Faked at the HTTP edge: WHMCS's API.
"""

from __future__ import annotations

import copy

import pytest
import responses

from bridge.core.states import State
from bridge.services import services
from tests.helpers import actions_of, attempts_of, load_sample, plan_of, transitions_of
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn


def _changed(event: str, change) -> dict:
    params = copy.deepcopy(load_sample("whmcs_hooks", event))
    change(params)
    return params


SHAPE_ERRORS = {
    "a group id that is not a number": (
        "ClientAdd",
        lambda p: p.update(groupid="abc"),
        "field groupid: expected a number, got 'abc'",
    ),
    "a list where the client details belong": (
        "ClientAdd",
        lambda p: p.update(clientsdetails=["userid", 1042]),
        "field clientsdetails: expected an object, got ['userid', 1042]",
    ),
    "a list where a module event's client details belong": (
        "AfterModuleSuspend",
        lambda p: p["params"].update(clientsdetails=[1, 2]),
        "field params.clientsdetails: expected an object, got [1, 2]",
    ),
    "a non-numeric group id in a module event's client details": (
        "AfterModuleTerminate",
        lambda p: p["params"]["clientsdetails"].update(groupid="vip"),
        "field params.clientsdetails.groupid: expected a number, got 'vip'",
    ),
    "an object where the invoice id belongs": (
        "InvoiceCreated",
        lambda p: p.update(invoiceid={"id": 7}),
        "field invoiceid: expected an id, got {'id': 7}",
    ),
    "a list where the email preferences belong": (
        "ClientEdit",
        lambda p: p.update(email_preferences=["general"]),
        "field email_preferences: expected an object, got ['general']",
    ),
}


@pytest.mark.parametrize("case", list(SHAPE_ERRORS))
def test_a_field_of_the_wrong_shape_fails_the_planning_at_once(case, post_event, svc, run_worker):
    event, change, message = SHAPE_ERRORS[case]
    response = post_event(event, _changed(event, change))
    assert response.status_code == 202  # a signed event of a known type: stored, as any other
    event_id = response.get_json()["event_id"]

    run_worker()

    plan = plan_of(svc, event_id)
    assert (plan.state, plan.attempts, plan.last_error) == (State.FAILED, 1, message)
    assert transitions_of(svc, plan.id)[-1] == ("sending", "failed", f"permanent error: {message}")
    assert [a.outcome for a in attempts_of(svc, plan.id)] == ["permanent_error"]
    assert actions_of(svc, event_id) == []  # nothing planned from a half-read event


def _planned_with_client(make_app, post_event, run_worker, **client_fields):
    """A ClientChangePassword planned against a WHMCS whose GetClientsDetails answers
    the sample client with `client_fields` changed."""
    stand_in = WhmcsStandIn()
    details = copy.deepcopy(load_sample("whmcs_api", "GetClientsDetails"))
    details["client"].update(client_fields)
    stand_in.answers["GetClientsDetails"] = details
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        app = make_app(**SETTINGS)
        event_id = post_event("ClientChangePassword").get_json()["event_id"]
        run_worker(app)
    return services(app), event_id


def test_a_group_id_from_whmcs_that_is_not_a_number_names_the_api_field(post_event, make_app, run_worker):
    svc, event_id = _planned_with_client(make_app, post_event, run_worker, groupid="Mayoristas")
    plan = plan_of(svc, event_id)
    assert (plan.state, plan.attempts) == (State.FAILED, 1)
    assert plan.last_error == "field GetClientsDetails.groupid: expected a number, got 'Mayoristas'"


def test_an_invoice_total_from_whmcs_that_is_not_an_amount_names_the_api_field(post_event, make_app, run_worker):
    stand_in = WhmcsStandIn()
    stand_in.answers["GetInvoice"] = {**load_sample("whmcs_api", "GetInvoice"), "total": "doce"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        app = make_app(**SETTINGS)
        event_id = post_event("InvoiceCreated").get_json()["event_id"]
        run_worker(app)
    plan = plan_of(services(app), event_id)
    assert (plan.state, plan.attempts) == (State.FAILED, 1)
    assert plan.last_error == "field GetInvoice.total: expected an amount, got 'doce'"


def test_text_from_whmcs_is_held_to_the_inbound_rules(post_event, make_app, run_worker):
    """The API's answer was not cleaned at the door: NUL is removed, a lone surrogate fails."""
    svc, event_id = _planned_with_client(make_app, post_event, run_worker, firstname="Lu\x00cía")
    assert plan_of(svc, event_id).state == State.SENT
    whatsapp = next(a for a in actions_of(svc, event_id) if a.channel == "whatsapp")
    assert whatsapp.state == State.SENT and "Lucía" in whatsapp.content["body"]

    svc, event_id = _planned_with_client(make_app, post_event, run_worker, lastname="Fern\udc00ndez")
    plan = plan_of(svc, event_id)
    assert (plan.state, plan.attempts) == (State.FAILED, 1)
    assert plan.last_error == "field GetClientsDetails.lastname: expected text, got 'Fern\\udc00ndez'"


def test_a_hook_reading_a_field_of_the_wrong_shape_fails_its_own_action(post_event, svc, run_worker, caplog):
    params = _changed("ClientEdit", lambda p: p.update(olddata=["phonenumber"]))
    event_id = post_event("ClientEdit", params).get_json()["event_id"]

    run_worker()

    assert plan_of(svc, event_id).state == State.SENT  # the other handlers still ran
    [failed] = [a for a in actions_of(svc, event_id) if a.channel == "hook"]
    assert (failed.hook, failed.state) == ("clients.details_changed", State.FAILED)
    assert failed.last_error == "hook error: field olddata: expected an object, got ['phonenumber']"
    assert "Traceback" not in caplog.text


def test_what_php_writes_for_nothing_reads_as_empty(post_event, svc, run_worker):
    """json_encode writes an empty PHP array as [] and a missing value as null or false:
    those are not shape errors."""
    params = _changed(
        "ClientEdit", lambda p: p.update(olddata=[], email_preferences=[], customFields=[], groupid=None, phonecc=False)
    )
    event_id = post_event("ClientEdit", params).get_json()["event_id"]

    run_worker()

    assert plan_of(svc, event_id).state == State.SENT
    assert {(a.channel, a.state) for a in actions_of(svc, event_id)} == {("whatsapp", "sent"), ("email", "sent")}


def test_a_recipient_longer_than_its_column_is_one_skipped_action(post_event, svc, run_worker):
    """An email field of 420 characters (WHMCS stores what was typed): PostgreSQL would refuse
    the row and the planning would retry in vain; it is one skip that says why, and the
    client's other messages still go."""
    address = "a" * 400 + "@radioandina.example"
    event_id = post_event("ClientAdd", _changed("ClientAdd", lambda p: p.update(email=address))).get_json()["event_id"]

    run_worker()

    plan = plan_of(svc, event_id)
    assert (plan.state, plan.attempts) == (State.SENT, 1)
    by_channel = {a.channel: a for a in actions_of(svc, event_id)}
    assert by_channel["whatsapp"].state == State.SENT
    email = by_channel["email"]
    assert email.state == State.SKIPPED
    assert email.last_error == "recipient is 420 characters long; at most 320 are stored"
    assert len(email.recipient) == 320 and email.recipient.endswith("…")
