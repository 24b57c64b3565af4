"""A customer's WhatsApp message: recorded and answered at once, matched to the client by the
phones the bridge has seen, and an opt-out or opt-in word honoured from then on.

Real: the webhook with Twilio's signature as Twilio computes it, the queue and a worker.
Twilio's Messages API is outside this machine: faked at the HTTP edge with `responses`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import Event, KnownPhone, WhatsAppNumber, utcnow
from bridge.store.whatsapp_numbers import WINDOW, remember_phone
from tests.helpers import SAMPLE_NUMBER, SECRET, actions_of, load_form, load_sample, twilio_post

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://bridge.hosting.example"
SID = "AC" + "0" * 32
TWILIO = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_API_BASE": "https://twilio.test",
    "PUBLIC_BASE_URL": PUBLIC,
}
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
_sids = iter(range(1, 10_000))


@pytest.fixture
def twilio() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
        yield mock


@pytest.fixture
def app(make_app):
    return make_app(**TWILIO)


def inbound(app, body: str = "", *, sender: str = SAMPLE_NUMBER, sample: str = "inbound.text", **fields: str):
    """A message from `sender`, signed as Twilio signs it."""
    params = load_form(sample)
    params.update(MessageSid=f"SM{next(_sids):032x}", From=f"whatsapp:{sender}", WaId=sender.lstrip("+"))
    if body:
        params["Body"] = body
    params.update(fields)
    return twilio_post(app, "/webhooks/twilio/inbound", params, TOKEN, PUBLIC)


def whmcs_event(app, event: str = "ClientAdd") -> int:
    body, headers = signed_request(SECRET, event, load_sample("whmcs_hooks", event))
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202
    return response.get_json()["event_id"]


def sent_bodies(twilio: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in twilio.calls if call.request.url == MESSAGES_URL]


def number_row(svc, number: str = SAMPLE_NUMBER) -> WhatsAppNumber | None:
    with svc.db.session() as session:
        return session.get(WhatsAppNumber, number)


def test_a_message_is_recorded_answered_with_empty_twiml_and_opens_the_window(app):
    svc = services(app)
    before = utcnow()
    response = inbound(app, sender="+5491145678901")

    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response></Response>")
    with svc.db.session() as session:
        event = session.get_one(Event, int(response.headers["X-Bridge-Event-Id"]))
    assert (event.source, event.type, event.payload["number"]) == ("twilio", "WhatsAppMessage", "+5491145678901")
    assert event.payload["params"]["Body"].startswith("Hola, ¿me pasan el CBU")
    row = number_row(svc, "+5491145678901")
    assert row is not None and row.last_inbound_at is not None
    assert before <= row.last_inbound_at <= utcnow() and not row.opted_out


def test_the_window_keeps_the_latest_message_and_closes_24_hours_after_it(app):
    from datetime import timedelta

    from bridge.store.whatsapp_numbers import open_window, window_open

    svc = services(app)
    now = utcnow()
    with svc.db.session() as session:
        open_window(session, SAMPLE_NUMBER, now - timedelta(hours=2))
        open_window(session, SAMPLE_NUMBER, now - timedelta(hours=30))  # an older message, recorded late
        session.commit()
    row = number_row(svc)
    assert row is not None and row.last_inbound_at == now - timedelta(hours=2)
    assert window_open(row, now) and window_open(row, now - timedelta(hours=2) + WINDOW - timedelta(seconds=1))
    assert not window_open(row, now - timedelta(hours=2) + WINDOW)
    assert not window_open(None, now)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"From": "+5491145678901"}, "From: not a WhatsApp sender"),  # an SMS, not WhatsApp
        ({"From": "whatsapp:+54911"}, "From: not a WhatsApp sender"),
        ({"MessageSid": "not-a-sid"}, "MessageSid"),
        ({"NumMedia": "many"}, "NumMedia"),
        ({"NumMedia": "99"}, "NumMedia"),
    ],
)
def test_a_malformed_message_is_refused_with_the_field_and_stores_nothing(app, fields, error):
    from tests.helpers import count

    svc = services(app)
    params = {**load_form("inbound.text"), **fields}
    response = twilio_post(app, "/webhooks/twilio/inbound", params, TOKEN, PUBLIC)
    assert response.status_code == 400 and error in response.get_json()["error"]
    assert count(svc, Event) == 0 and count(svc, WhatsAppNumber) == 0


def test_a_notice_teaches_the_bridge_the_clients_number(app, run_worker, twilio, the_customer_wrote):
    svc = services(app)
    whmcs_event(app, "ClientAdd")
    run_worker()
    with svc.db.session() as session:
        known = session.execute(select(KnownPhone.number, KnownPhone.client_id)).all()
    assert known == [(SAMPLE_NUMBER, "1042")]

    from bridge.core.events import InboundEvent
    from bridge.planning.whatsapp_inbound import InboundMessageResolver

    reply = inbound(app, "¿Cuándo vence mi factura?")
    with svc.db.session() as session:
        event = session.get_one(Event, int(reply.headers["X-Bridge-Event-Id"]))
    assert event.client_id is None  # the intake does not guess: the planning matches
    found = InboundMessageResolver(svc.db, None).resolve(
        InboundEvent(event.source, event.type, event.external_id, event.payload), frozenset({"sender", "client"})
    )
    assert found.client is not None and found.client.id == "1042" and found.missing == ""


def test_baja_opts_the_number_out_with_one_confirmation_and_alta_opts_it_back_in(app, run_worker, twilio):
    svc = services(app)
    whmcs_event(app, "ClientAdd")  # outside any window: no template, nothing free-form goes
    run_worker()
    assert sent_bodies(twilio) == []

    opt_out = int(inbound(app, "  Baja. ").headers["X-Bridge-Event-Id"])
    run_worker()

    consent, confirmation = actions_of(svc, opt_out)
    assert (consent.channel, consent.state, consent.recipient) == ("whatsapp_consent", State.SENT, SAMPLE_NUMBER)
    assert consent.content == {"opted_out": True, "keyword": "BAJA"}
    assert (confirmation.channel, confirmation.state) == ("whatsapp", State.SENT)
    [sent] = sent_bodies(twilio)
    assert sent["To"] == [f"whatsapp:{SAMPLE_NUMBER}"] and "ALTA" in sent["Body"][0]
    assert sent["Body"][0].startswith("Listo")  # Spanish: the word's language (no client known yet)
    row = number_row(svc)
    assert row is not None and row.opted_out and row.consent_keyword == "BAJA"

    # From now on WhatsApp Actions to that number are skipped, with the reason; email is unchanged.
    later = whmcs_event(app, "AfterModuleSuspend")
    run_worker()
    whatsapp = next(a for a in actions_of(svc, later) if a.channel == "whatsapp")
    assert whatsapp.state == State.SKIPPED and "opted out of WhatsApp (BAJA on" in (whatsapp.last_error or "")
    assert [a.state for a in actions_of(svc, later) if a.channel == "email"] == [State.SENT]
    assert len(sent_bodies(twilio)) == 1

    opt_in = int(inbound(app, "ALTA").headers["X-Bridge-Event-Id"])
    run_worker()
    assert [a.state for a in actions_of(svc, opt_in)] == [State.SENT, State.SENT]
    row = number_row(svc)
    assert row is not None and not row.opted_out and row.consent_keyword == "ALTA"
    again = whmcs_event(app, "AfterModuleUnsuspend")
    run_worker()
    whatsapp = next(a for a in actions_of(svc, again) if a.channel == "whatsapp")
    assert whatsapp.state == State.SENT  # the window the ALTA message opened is still open


def test_a_keyword_inside_a_longer_text_changes_nothing(app, run_worker, twilio):
    svc = services(app)
    event_id = int(inbound(app, "quiero darme de baja del hosting").headers["X-Bridge-Event-Id"])
    run_worker()
    # A text for staff (here: nobody to tell, so recorded as such), not a consent change.
    [action] = actions_of(svc, event_id)
    assert action.channel == "whatsapp_ticket" and action.state == State.SKIPPED
    row = number_row(svc)
    assert row is not None and not row.opted_out


def test_the_confirmation_speaks_the_clients_own_language(make_app, run_worker, twilio):
    app = make_app(**TWILIO)
    svc = services(app)
    with svc.db.session() as session:
        remember_phone(session, SAMPLE_NUMBER, "1042")
        session.commit()
    # Without the WHMCS API the client is known by id only: the keyword's language answers.
    inbound(app, "STOP")
    run_worker()
    [sent] = sent_bodies(twilio)
    assert sent["Body"][0].startswith("Done") and "START" in sent["Body"][0]


def test_a_number_two_clients_share_matches_neither(app, run_worker, twilio):
    from bridge.core.events import InboundEvent
    from bridge.planning.whatsapp_inbound import InboundMessageResolver

    svc = services(app)
    with svc.db.session() as session:
        remember_phone(session, SAMPLE_NUMBER, "1042")
        remember_phone(session, SAMPLE_NUMBER, "2077")
        remember_phone(session, SAMPLE_NUMBER, "1042")  # seen again: still one row
        session.commit()
    resolver = InboundMessageResolver(svc.db, None)
    params = {"From": f"whatsapp:{SAMPLE_NUMBER}", "Body": "hola"}
    data = resolver.resolve(InboundEvent("twilio", "WhatsAppMessage", "SM1", {"params": params}), frozenset({"sender"}))
    assert data.client is None and data.sender is not None
    assert data.sender.client_ids == ("1042", "2077")
    assert data.missing == "the number belongs to 2 clients: 1042, 2077"
    unknown = resolver.resolve(
        InboundEvent("twilio", "WhatsAppMessage", "SM2", {"params": {**params, "From": "whatsapp:+5491145678901"}}),
        frozenset({"sender"}),
    )
    assert unknown.client is None and unknown.missing == "no client is known with the number +5491145678901"


def test_the_opt_out_is_mirrored_to_the_whmcs_field_routing_names(make_app, run_worker, twilio, tmp_path):
    import shutil

    from bridge.core.settings import DEFAULT_CONFIG_DIR
    from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = config / "routing.toml"
    routing.write_text(routing.read_text().replace('whatsapp_optout_field = ""', 'whatsapp_optout_field = "9"'))
    app = make_app(**TWILIO, **SETTINGS, BRIDGE_CONFIG_DIR=str(config))
    svc = services(app)
    with svc.db.session() as session:
        remember_phone(session, SAMPLE_NUMBER, "1042")
        session.commit()
    stand_in = WhmcsStandIn()
    twilio.add_callback(responses.POST, API_URL, callback=stand_in)

    event_id = int(inbound(app, "BAJA").headers["X-Bridge-Event-Id"])
    run_worker()

    by_channel = {a.channel: a for a in actions_of(svc, event_id)}
    assert by_channel["whmcs"].state == State.SENT
    assert by_channel["whmcs"].content["params"] == {"clientid": "1042", "customfields": {"9": "on"}}
    assert "UpdateClient" in stand_in.actions()
    [sent] = sent_bodies(twilio)
    assert sent["Body"][0].startswith("Listo, Lucía")  # the client, read from WHMCS, in Spanish
    assert json.loads(json.dumps(by_channel["whatsapp_consent"].content)) == {"opted_out": True, "keyword": "BAJA"}


def test_a_contacts_number_read_from_whmcs_finds_the_client_too(make_app, run_worker, twilio):
    from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

    app = make_app(**TWILIO, **SETTINGS)
    twilio.add_callback(responses.POST, API_URL, callback=WhmcsStandIn())
    whmcs_event(app, "InvoiceCreated")  # its handlers look the client's contacts up
    run_worker()
    with services(app).db.session() as session:
        known = set(session.execute(select(KnownPhone.number, KnownPhone.client_id)).all())
    assert known == {(SAMPLE_NUMBER, "1042"), ("+5493515554321", "1042")}
