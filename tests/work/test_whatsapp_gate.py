"""What may go to a WhatsApp number when the worker sends: WhatsApp's 24-hour window for
free-form messages, and the customer's consent. Twilio's host is faked at the HTTP edge."""

from __future__ import annotations

import json
import shutil
from urllib.parse import parse_qs

import pytest
import responses

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import utcnow
from bridge.store.whatsapp_numbers import set_consent
from tests.helpers import SAMPLE_NUMBER, SECRET, actions_of, attempts_of, customer_wrote, load_sample

SID = "AC" + "0" * 32
TWILIO = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": "test-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_API_BASE": "https://twilio.test",
}
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"


def _whatsapp_after_client_add(app, run_worker):
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker()
    return next(a for a in actions_of(services(app), event_id) if a.channel == "whatsapp")


@responses.activate
def test_outside_the_window_a_free_form_message_is_not_attempted(make_app, run_worker):
    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    app = make_app(**TWILIO)
    action = _whatsapp_after_client_add(app, run_worker)
    assert action.state == State.FAILED and action.attempts == 1
    assert "24-hour window is closed" in (action.last_error or "") and "[window_closed]" in (action.last_error or "")
    assert len(responses.calls) == 0  # Twilio would accept it, then report 63016


@pytest.mark.parametrize(("hours_ago", "sent"), [(1, True), (23.9, True), (24.1, False)])
@responses.activate
def test_inside_the_window_it_goes_as_written(make_app, run_worker, database_url, hours_ago, sent):
    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    customer_wrote(database_url, hours_ago=hours_ago)
    app = make_app(**TWILIO)
    action = _whatsapp_after_client_add(app, run_worker)
    assert (action.state == State.SENT) is sent
    assert len(responses.calls) == (1 if sent else 0)
    if sent:
        assert "Body" in parse_qs(responses.calls[0].request.body)


@responses.activate
def test_an_approved_template_goes_whenever(make_app, run_worker, tmp_path):
    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    with (config / "routing.toml").open("a") as handle:
        handle.write(
            '\n[whatsapp_templates.ClientAdd.es]\ncontent_sid = "HX' + "c" * 32 + '"\nvariables = ["firstname"]\n'
        )
    app = make_app(**TWILIO, BRIDGE_CONFIG_DIR=str(config))
    action = _whatsapp_after_client_add(app, run_worker)
    assert action.state == State.SENT
    assert parse_qs(responses.calls[0].request.body)["ContentSid"] == ["HX" + "c" * 32]


def test_a_dry_run_checks_no_window(make_app, run_worker):
    action = _whatsapp_after_client_add(make_app(), run_worker)
    assert action.state == State.SENT and action.dry_run


@responses.activate
def test_an_opted_out_number_is_skipped_and_nothing_is_sent(make_app, run_worker, database_url):
    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    customer_wrote(database_url)
    app = make_app(**TWILIO)
    svc = services(app)
    with svc.db.session() as session:
        set_consent(session, SAMPLE_NUMBER, opted_out=True, keyword="STOP", at=utcnow())
        session.commit()
    action = _whatsapp_after_client_add(app, run_worker)
    assert action.state == State.SKIPPED and "opted out of WhatsApp (STOP on" in (action.last_error or "")
    assert len(responses.calls) == 0
    [attempt] = attempts_of(svc, action.id)
    assert attempt.outcome == "permanent_error"  # the attempt ended; the Action is skipped, not failed


@responses.activate
def test_a_staff_alert_goes_as_the_staff_template_outside_the_staff_members_window(
    make_app, run_worker, database_url, tmp_path
):
    from tests.helpers import approve_every_template

    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = config / "routing.toml"
    routing.write_text(
        routing.read_text().replace('whatsapp = []    # e.g. ["+5493515550000"]', 'whatsapp = ["+5493515550000"]')
    )
    approve_every_template(database_url)
    app = make_app(**TWILIO, BRIDGE_CONFIG_DIR=str(config), PUBLIC_BASE_URL="https://bridge.hosting.example")
    body, headers = signed_request(SECRET, "AfterModuleSuspend", load_sample("whmcs_hooks", "AfterModuleSuspend"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker()

    [alert] = [a for a in actions_of(services(app), event_id) if a.recipient == "+5493515550000"]
    assert alert.state == State.SENT
    [sent] = [f for f in (parse_qs(c.request.body) for c in responses.calls) if f["To"] == ["whatsapp:+5493515550000"]]
    assert "Body" not in sent and sent["ContentSid"][0].startswith("HX")
    variables = json.loads(sent["ContentVariables"][0])
    assert (
        variables["1"] == "Tu Hosting"
        and variables["2"] == "Servicio suspendido: radioandina.example - Lucía Fernández"
    )
    assert variables["3"].startswith("https://bridge.hosting.example/log/?q=")
