"""Who gets told what: preferences, opt-outs, excluded groups, contacts, staff, echoes."""

from __future__ import annotations

import json
import shutil

import pytest
import responses

from bridge.core.events import WHMCS_EVENTS
from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from tests.helpers import REPO, SECRET, actions_of, load_sample, plan_of
from tests.support.smtp_server import smtp_server
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn


@pytest.fixture
def stand_in():
    stand_in = WhmcsStandIn()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as edge:
        edge.add_callback(responses.POST, API_URL, callback=stand_in)
        yield stand_in


@pytest.fixture
def routed(make_app, tmp_path):
    """An app whose routing.toml has some lines replaced."""

    def build(**replacements: str):
        config = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config)
        routing = (config / "routing.toml").read_text()
        for old, new in replacements.items():
            assert old in routing, old
            routing = routing.replace(old, new)
        (config / "routing.toml").write_text(routing)
        return make_app(**SETTINGS, BRIDGE_CONFIG_DIR=str(config))

    return build


def _planned(app, post_event, run_worker, event, params=None):
    event_id = post_event(event, params).get_json()["event_id"]
    run_worker(app)
    return [(a.channel, a.recipient, a.state, a.last_error) for a in actions_of(services(app), event_id)]


def _client(**changes):
    details = load_sample("whmcs_api", "GetClientsDetails")
    details["client"].update(changes)
    return details


def test_a_group_change_made_by_the_bridge_is_not_echoed(make_app, post_event, run_worker, stand_in):
    app = make_app(**SETTINGS)
    params = {**load_sample("whmcs_hooks", "ClientEdit"), "groupid": 4}
    params["olddata"] = {**params["olddata"], "phonenumber": params["phonenumber"], "groupid": 0}
    assert _planned(app, post_event, run_worker, "ClientEdit", params) == [
        ("none", "-", "skipped", "no customer-facing field changed (groupid): not notified")
    ]


def test_a_real_change_of_details_is_notified(make_app, post_event, run_worker, stand_in):
    app = make_app(**SETTINGS)
    planned = _planned(app, post_event, run_worker, "ClientEdit")  # the sample changes the phone
    assert [(channel, state) for channel, _, state, _ in planned] == [("whatsapp", "sent"), ("email", "sent")]


def test_invoice_emails_turned_off_skip_the_email_not_the_whatsapp(make_app, post_event, run_worker, stand_in):
    stand_in.answers["GetClientsDetails"] = _client(email_preferences={"invoice": False, "general": True})
    app = make_app(**SETTINGS)
    planned = _planned(app, post_event, run_worker, "InvoiceCreated")
    assert planned[0][0] == "whatsapp" and planned[0][2] == "sent"
    assert planned[1] == (
        "email",
        "lucia@radioandina.example",
        "skipped",
        "the client turned off invoice emails in WHMCS",
    )
    assert planned[2][:3] == ("email", "administracion@radioandina.example", "sent")  # the contact still wants them


def test_security_alerts_ignore_email_preferences(make_app, post_event, run_worker, stand_in):
    stand_in.answers["GetClientsDetails"] = _client(email_preferences={"general": False})
    app = make_app(**SETTINGS)
    planned = _planned(app, post_event, run_worker, "ClientChangePassword")
    assert [(channel, state) for channel, _, state, _ in planned] == [("whatsapp", "sent"), ("email", "sent")]


def test_the_whatsapp_opt_out_field_is_respected(routed, post_event, run_worker, stand_in):
    stand_in.answers["GetClientsDetails"] = _client(customfields=[{"id": 9, "value": "on"}])
    app = routed(**{'whatsapp_optout_field = ""': 'whatsapp_optout_field = "9"'})
    planned = _planned(app, post_event, run_worker, "AfterModuleUnsuspend")
    assert planned[0] == ("whatsapp", "0351 15 555-1234", "skipped", "the client opted out of WhatsApp")
    assert planned[1][2] == "sent"


def test_excluded_client_groups_get_nothing(routed, post_event, run_worker, stand_in):
    stand_in.answers["GetClientsDetails"] = _client(groupid=7)
    app = routed(**{"exclude_groups = []": "exclude_groups = [7]"})
    planned = _planned(app, post_event, run_worker, "InvoiceCreated")
    assert planned == [
        ("whatsapp", "-", "skipped", "client group 7 is left out in routing.toml"),
        ("email", "-", "skipped", "client group 7 is left out in routing.toml"),
    ]


def test_staff_are_alerted_for_the_events_they_chose(routed, post_event, run_worker, stand_in):
    app = routed(
        **{
            "emails = []      #": 'emails = ["facturacion@tuhosting.example"]  #',
            "whatsapp = []    #": 'whatsapp = ["+54 9 351 555-0000"]  #',
        }
    )
    event_id = post_event("InvoiceCancelled").get_json()["event_id"]
    run_worker(app)
    staff = [a for a in actions_of(services(app), event_id) if a.hook == "staff.alert"]
    assert [(a.channel, a.recipient, a.state) for a in staff] == [
        ("email", "facturacion@tuhosting.example", State.SENT),
        ("whatsapp", "+5493515550000", State.SENT),
    ]
    assert "A-0088231" in staff[0].content["subject"] and "Lucía Fernández" in staff[0].content["body"]
    # Not for events left out of [staff] events.
    other = post_event("InvoicePaid").get_json()["event_id"]
    run_worker(app)
    assert not [a for a in actions_of(services(app), other) if a.hook == "staff.alert"]


def test_invoice_creation_is_off_by_default(make_app, post_event, run_worker, stand_in):
    app = make_app(**SETTINGS)
    assert _planned(app, post_event, run_worker, "InvoiceCreation") == []


@pytest.mark.parametrize(
    ("whmcs_language", "greeting"),
    [("portuguese-br", "Olá Lucía"), ("italian", "Ciao Lucía"), ("klingon", "Hola Lucía")],
)
def test_the_client_language_picks_portuguese_italian_or_the_default(
    whmcs_language, greeting, make_app, post_event, run_worker, stand_in
):
    stand_in.language = whmcs_language
    app = make_app(**SETTINGS)
    event_id = post_event("InvoiceCreated").get_json()["event_id"]
    run_worker(app)
    whatsapp = actions_of(services(app), event_id)[0]
    assert greeting in whatsapp.content["body"], whatsapp.content["body"]


SEVERAL_ADDRESSES = (
    "lucia@radioandina.example, intruso@evil.example",
    "lucia@radioandina.example; intruso@evil.example",
    "lucia@radioandina.example\nintruso@evil.example",
    "lucia@radioandina.example\r\nBcc: intruso@evil.example",
    "Lucía <lucia@radioandina.example> intruso@evil.example",
)


@pytest.mark.parametrize("field", SEVERAL_ADDRESSES)
def test_an_email_field_with_several_addresses_is_one_skipped_action(field, make_app, post_event, run_worker):
    """A real SMTP server would deliver to every address in To: nothing is sent at all."""
    with smtp_server() as (inbox, port):
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
        params = {**load_sample("whmcs_hooks", "ClientAdd"), "email": field}
        planned = _planned(app, post_event, run_worker, "ClientAdd", params)
    emails = [p for p in planned if p[0] == "email"]
    assert len(emails) == 1
    [(_, _, state, reason)] = emails
    assert state == State.SKIPPED and reason.startswith("not one email address"), reason
    assert inbox.messages == []
    assert [p[2] for p in planned if p[0] == "whatsapp"] == [State.SENT]  # the rest goes on


def test_a_staff_email_entry_with_two_addresses_is_skipped(routed, post_event, run_worker, stand_in):
    app = routed(**{"emails = []      #": 'emails = ["facturacion@tuhosting.example; otro@evil.example"]  #'})
    event_id = post_event("InvoiceCancelled").get_json()["event_id"]
    run_worker(app)
    [staff] = [a for a in actions_of(services(app), event_id) if a.hook == "staff.alert"]
    assert staff.channel == "email" and staff.state == State.SKIPPED
    assert staff.last_error.startswith("not one email address"), staff.last_error


@pytest.mark.parametrize("event", WHMCS_EVENTS)
def test_every_events_sample_plans_without_a_hook_error_on_the_embedded_defaults(event, app, run_worker):
    # What `make run` plus `send-test-event <event>` does: no WHMCS API, no credentials.
    body, headers = signed_request(
        SECRET, event, json.loads((REPO / "bridge" / "samples" / f"{event}.json").read_text())
    )
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    run_worker(app)
    svc = services(app)
    event_id = response.get_json()["event_id"]
    assert plan_of(svc, event_id).state == State.SENT
    failed = [(a.hook, a.last_error) for a in actions_of(svc, event_id) if a.state == State.FAILED]
    assert failed == []
