"""When WhatsApp cannot carry a notice for good, the next channel takes it over: SMS, then
email, skipping what cannot help; a transient failure is retried first, and a notice is
never handed over twice. Twilio's host is faked at the HTTP edge; the SMTP server is real."""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import Action
from tests.helpers import (
    SAMPLE_NUMBER,
    SECRET,
    actions_of,
    customer_wrote,
    load_form,
    load_sample,
    transitions_of,
    twilio_post,
)

SID = "AC" + "0" * 32
TOKEN = "test-token"
PUBLIC = "https://bridge.hosting.example"
TWILIO = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_SMS_FROM": "+14155550100",
    "TWILIO_API_BASE": "https://twilio.test",
    "PUBLIC_BASE_URL": PUBLIC,
}
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
QUEUED = {"sid": "SM" + "a" * 32, "status": "queued"}


def _error(code: int, status: int = 400) -> dict:
    return {"code": code, "message": f"error {code}", "status": status}


def _whatsapp_only(tmp_path):
    """ClientAdd on WhatsApp alone, falling back to SMS, then email."""
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = config / "routing.toml"
    text = routing.read_text()
    text = text.replace(
        '[events.ClientAdd]\nchannels = ["whatsapp", "email"]',
        '[events.ClientAdd]\nchannels = ["whatsapp"]\nfallback = ["sms", "email"]',
    )
    routing.write_text(text)
    return str(config)


def _client_add(app, run_worker) -> int:
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker()
    return event_id


def _sent(mock) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in mock.calls if call.request.url == MESSAGES_URL]


@responses.activate
def test_outside_the_window_the_notice_goes_by_sms_instead(make_app, run_worker):
    responses.post(MESSAGES_URL, json=QUEUED, status=201)
    app = make_app(**TWILIO)
    svc = services(app)
    event_id = _client_add(app, run_worker)

    by_channel = {a.channel: a for a in actions_of(svc, event_id)}
    assert by_channel["whatsapp"].state == State.FAILED
    assert "sms takes the notice over" in transitions_of(svc, by_channel["whatsapp"].id)[-1][2]
    sms = by_channel["sms"]
    assert (sms.state, sms.recipient, sms.hook) == (State.SENT, SAMPLE_NUMBER, "fallback")
    [sent] = _sent(responses)  # WhatsApp was not even attempted
    assert sent["To"] == [SAMPLE_NUMBER] and sent["From"] == ["+14155550100"]
    assert sent["Body"][0].startswith("Hola Lucia!") and sent["Body"][0].isascii()
    assert sms.content["segments"] == 1
    assert by_channel["email"].state == State.SENT  # the event's own email, not a fallback: never twice


@responses.activate
def test_a_transient_failure_is_retried_first(make_app, run_worker, database_url):
    customer_wrote(database_url)
    responses.post(MESSAGES_URL, json=_error(20500, 500), status=500)
    app = make_app(**TWILIO)
    event_id = _client_add(app, run_worker)
    channels = {a.channel: a.state for a in actions_of(services(app), event_id)}
    assert channels["whatsapp"] == State.RETRYING and "sms" not in channels


@responses.activate
def test_an_invalid_number_skips_sms_and_goes_to_email(make_app, run_worker, database_url, tmp_path):
    from tests.support.smtp_server import smtp_server

    customer_wrote(database_url)
    responses.post(MESSAGES_URL, json=_error(21211), status=400)
    with smtp_server() as (inbox, port):
        app = make_app(
            **TWILIO,
            BRIDGE_CONFIG_DIR=_whatsapp_only(tmp_path),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            SMTP_STARTTLS=False,
        )
        event_id = _client_add(app, run_worker)
        by_channel = {a.channel: a for a in actions_of(services(app), event_id)}
    assert by_channel["whatsapp"].state == State.FAILED and "sms" not in by_channel
    assert by_channel["email"].state == State.SENT and by_channel["email"].hook == "fallback"
    assert len(inbox.messages) == 1 and "Bienvenido/a a Tu Hosting" in inbox.messages[0]["Subject"]


@responses.activate
def test_an_sms_refused_for_stop_hands_over_to_email(make_app, run_worker, tmp_path):
    responses.post(MESSAGES_URL, json=_error(21610), status=400)
    app = make_app(**TWILIO, BRIDGE_CONFIG_DIR=_whatsapp_only(tmp_path))
    event_id = _client_add(app, run_worker)
    chain = [(a.channel, a.state) for a in actions_of(services(app), event_id)]
    assert chain == [("whatsapp", State.FAILED), ("sms", State.FAILED), ("email", State.SENT)]


def _receipt(app, sid: str, status: str, code: str | None = None):
    params = {**load_form("status_callback.delivered"), "MessageSid": sid, "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    return twilio_post(app, "/webhooks/twilio/status", params, TOKEN, PUBLIC)


@responses.activate
def test_an_undelivered_receipt_hands_over_once(make_app, run_worker, database_url):
    customer_wrote(database_url)
    responses.post(MESSAGES_URL, json=QUEUED, status=201)
    app = make_app(**TWILIO)
    svc = services(app)
    event_id = _client_add(app, run_worker)
    whatsapp = next(a for a in actions_of(svc, event_id) if a.channel == "whatsapp")
    assert whatsapp.state == State.SENT

    for _ in range(2):  # Twilio may repeat a callback
        assert _receipt(app, QUEUED["sid"], "undelivered", "63016").status_code == 200
    run_worker()

    with svc.db.session() as session:
        sms = session.scalars(select(Action).where(Action.event_id == event_id, Action.channel == "sms")).all()
    assert len(sms) == 1 and sms[0].state == State.SENT
    whatsapp = next(a for a in actions_of(svc, event_id) if a.channel == "whatsapp")
    assert whatsapp.state == State.UNDELIVERED and "63016" in (whatsapp.last_error or "")


@pytest.mark.parametrize("status", ["delivered", "read"])
@responses.activate
def test_a_delivered_message_hands_nothing_over(make_app, run_worker, database_url, status):
    customer_wrote(database_url)
    responses.post(MESSAGES_URL, json=QUEUED, status=201)
    app = make_app(**TWILIO)
    event_id = _client_add(app, run_worker)
    _receipt(app, QUEUED["sid"], status)
    run_worker()
    assert "sms" not in {a.channel for a in actions_of(services(app), event_id)}
