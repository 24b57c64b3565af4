"""A customer's WhatsApp message becomes their WHMCS ticket, and the staff's answer goes back.

Real: the webhooks (Twilio's signature, WHMCS's Standard Webhooks signature), the queue, a
worker, the relay. Outside this machine, faked at the HTTP edge with `responses`: WHMCS's
API (tests.support.whmcs_stand_in, answering from the recorded samples), Twilio's Messages
API and its media host.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select, update

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import WhatsAppConversation, WhatsAppNumber, utcnow
from bridge.store.whatsapp_numbers import remember_phone
from bridge.wiring import build_relay
from tests.helpers import SAMPLE_NUMBER, SECRET, actions_of, approve_every_template, load_sample
from tests.hooks.test_whatsapp_inbound import MESSAGES_URL, TWILIO, inbound
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

MEDIA_URL = (
    "https://api.twilio.com/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages/"
    "MM5c2b75a36c9c986d0442085f65b9779f/Media/ME38f2d25fa9e4caa109eedf0d1cc67059"
)
PHOTO = b"\xff\xd8\xff\xe0 a receipt, as a JPEG"


@pytest.fixture
def whmcs() -> WhmcsStandIn:
    return WhmcsStandIn()


@pytest.fixture
def edge(whmcs: WhmcsStandIn) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MESSAGES_URL, json={"sid": "SM" + "b" * 32, "status": "queued"}, status=201)
        mock.add_callback(responses.POST, API_URL, callback=whmcs)
        mock.get(MEDIA_URL, body=PHOTO, content_type="image/jpeg")
        yield mock


def _app(make_app, tmp_path=None, **routing_changes: str):
    extra = {}
    if routing_changes:
        config = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config)
        routing = config / "routing.toml"
        text = routing.read_text()
        for old, new in routing_changes.items():
            assert old in text
            text = text.replace(old, new, 1)
        routing.write_text(text)
        extra["BRIDGE_CONFIG_DIR"] = str(config)
    app = make_app(**TWILIO, **SETTINGS, **extra)
    with services(app).db.session() as session:
        remember_phone(session, SAMPLE_NUMBER, "1042")  # Lucía's number, seen in an earlier notice
        session.commit()
    return app


def _event_id(response) -> int:
    assert response.status_code == 200, response.get_data(as_text=True)
    return int(response.headers["X-Bridge-Event-Id"])


def _calls(whmcs: WhmcsStandIn, action: str) -> list[dict[str, str]]:
    return [form for name, form in whmcs.calls if name == action]


def _sent(edge: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(call.request.body) for call in edge.calls if call.request.url == MESSAGES_URL]


def test_a_text_opens_a_ticket_and_the_customer_is_acknowledged_once(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    svc = services(app)
    first = _event_id(inbound(app, "¿Cuándo vence mi factura? No la encuentro en el área de clientes"))
    run_worker()

    [ticket] = [a for a in actions_of(svc, first) if a.channel == "whatsapp_ticket"]
    assert ticket.state == State.SENT and ticket.provider_ref == "ticket 7731"
    [opened] = _calls(whmcs, "OpenTicket")
    assert opened["deptid"] == "1"  # no department in routing: the first WHMCS lists
    assert opened["clientid"] == "1042" and opened["priority"] == "Medium"
    assert opened["subject"].startswith("WhatsApp: ¿Cuándo vence mi factura?") and opened["subject"].endswith("…")
    assert opened["message"].startswith("¿Cuándo vence mi factura? No la encuentro")
    assert f"sent on WhatsApp from {SAMPLE_NUMBER}" in opened["message"]
    [acknowledgement] = _sent(edge)
    assert acknowledgement["Body"][0].startswith("Hola Lucía, recibimos tu mensaje")  # the client, from WHMCS
    with svc.db.session() as session:
        [conversation] = session.scalars(select(WhatsAppConversation)).all()
    assert (conversation.number, conversation.ticket_id, conversation.ticket_number) == (
        SAMPLE_NUMBER,
        "7731",
        "418305",
    )

    second = _event_id(inbound(app, "Ya la encontré, gracias"))
    run_worker()

    [reply] = _calls(whmcs, "AddTicketReply")
    assert reply["ticketid"] == "7731" and reply["message"].startswith("Ya la encontré, gracias")
    assert [a.provider_ref for a in actions_of(svc, second)] == ["ticket 7731 reply"]
    assert len(_calls(whmcs, "OpenTicket")) == 1 and len(_sent(edge)) == 1  # one acknowledgement per conversation


def test_a_closed_ticket_or_a_quiet_day_starts_a_new_conversation(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    svc = services(app)
    inbound(app, "Hola, una consulta")
    run_worker()

    whmcs.answers["GetTicket"] = {**load_sample("whmcs_api", "GetTicket"), "status": "Closed"}
    inbound(app, "Otra consulta")
    run_worker()
    assert len(_calls(whmcs, "OpenTicket")) == 2 and len(_sent(edge)) == 2

    del whmcs.answers["GetTicket"]
    with svc.db.session() as session:
        session.execute(update(WhatsAppConversation).values(last_message_at=utcnow() - timedelta(hours=25)))
        session.commit()
    asked = len(_calls(whmcs, "GetTicket"))
    inbound(app, "Una tercera, al otro día")
    run_worker()
    assert len(_calls(whmcs, "OpenTicket")) == 3
    assert len(_calls(whmcs, "GetTicket")) == asked  # the conversation was over: WHMCS not even asked


def test_a_photo_is_downloaded_with_twilios_credentials_and_attached(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    _event_id(inbound(app, sample="inbound.media", sender=SAMPLE_NUMBER))
    run_worker()

    [download] = [call for call in edge.calls if call.request.url == MEDIA_URL]
    expected = base64.b64encode(f"{TWILIO['TWILIO_ACCOUNT_SID']}:{TWILIO['TWILIO_AUTH_TOKEN']}".encode()).decode()
    assert download.request.headers["Authorization"] == f"Basic {expected}"
    [opened] = _calls(whmcs, "OpenTicket")
    attachments = json.loads(base64.b64decode(opened["attachments"]))
    assert attachments == [{"name": "whatsapp-1.jpg", "data": base64.b64encode(PHOTO).decode()}]
    assert opened["message"].startswith("Segue o comprovante do pagamento da fatura 88236")


def test_media_without_a_link_is_said_in_the_ticket_not_lost(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    _event_id(inbound(app, "Mando la foto", NumMedia="1", MediaContentType0="image/png"))
    run_worker()
    [opened] = _calls(whmcs, "OpenTicket")
    assert "attachments" not in opened
    assert "[attachment 1 (image/png) came without a link and was left out]" in opened["message"]


def test_a_tapped_button_reaches_the_ticket_with_its_payload(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    _event_id(inbound(app, sample="inbound.button_reply"))
    run_worker()
    [opened] = _calls(whmcs, "OpenTicket")
    assert opened["message"].startswith("Ya pagué") and "[tapped button: Ya pagué (pagada_88231)]" in opened["message"]


def test_whmcs_down_is_retried_and_the_message_is_not_lost(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    svc = services(app)
    event_id = _event_id(inbound(app, "¿Está caído el servidor?"))
    whmcs.down = True
    run_worker()
    [ticket] = [a for a in actions_of(svc, event_id, with_plan=True) if a.channel in ("plan", "whatsapp_ticket")][-1:]
    assert ticket.state == State.RETRYING  # the planning (GetClientsDetails) waits for WHMCS

    whmcs.down = False
    for _ in range(3):
        build_relay(svc).run_once(now=utcnow() + timedelta(hours=2))
        run_worker()
    [ticket] = [a for a in actions_of(svc, event_id) if a.channel == "whatsapp_ticket"]
    assert ticket.state == State.SENT and len(_calls(whmcs, "OpenTicket")) == 1


def test_an_unknown_number_reaches_the_staff_and_opens_no_ticket(make_app, run_worker, whmcs, edge, tmp_path):
    app = _app(make_app, tmp_path, **{"emails = []": 'emails = ["soporte@tuhosting.example"]'})
    svc = services(app)
    event_id = _event_id(inbound(app, "Hola, soy nuevo, ¿qué planes tienen?", sender="+5491145678901"))
    run_worker()

    [alert] = actions_of(svc, event_id)
    assert (alert.channel, alert.recipient) == ("email", "soporte@tuhosting.example")
    assert alert.content["subject"] == "WhatsApp de un número sin cliente único: +5491145678901"
    assert "no client is known with the number +5491145678901" in alert.content["body"]
    assert "¿qué planes tienen?" in alert.content["body"]
    assert _calls(whmcs, "OpenTicket") == []


def _admin_reply(app) -> int:
    body, headers = signed_request(SECRET, "TicketAdminReply", load_sample("whmcs_hooks", "TicketAdminReply"))
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202
    return response.get_json()["event_id"]


def test_the_staff_answer_goes_back_in_their_own_words_inside_the_window(make_app, run_worker, whmcs, edge):
    app = _app(make_app)
    svc = services(app)
    inbound(app, "No puedo pagar la factura A-0088231")
    run_worker()
    with svc.db.session() as session:
        before = session.scalars(select(WhatsAppConversation.last_message_at)).one()

    event_id = _admin_reply(app)
    run_worker()

    [answer] = actions_of(svc, event_id)
    assert (answer.channel, answer.recipient, answer.state) == ("whatsapp", SAMPLE_NUMBER, State.SENT)
    sent = _sent(edge)[-1]
    assert sent["Body"][0].startswith("Hola Lucía, Carolina Sosa te respondió en el ticket N.º 418305:")
    assert "el rechazo vino del banco emisor" in sent["Body"][0]
    assert "viewticket.php?tid=418305&c=Qm7xT2pa" in sent["Body"][0]
    with svc.db.session() as session:
        assert session.scalars(select(WhatsAppConversation.last_message_at)).one() > before  # the conversation goes on


def test_outside_the_window_the_staff_answer_goes_as_its_template(make_app, run_worker, whmcs, edge, database_url):
    app = _app(make_app)
    svc = services(app)
    inbound(app, "No puedo pagar la factura A-0088231")
    run_worker()
    with svc.db.session() as session:
        session.execute(update(WhatsAppNumber).values(last_inbound_at=utcnow() - timedelta(hours=30)))
        session.commit()

    event_id = _admin_reply(app)
    run_worker()
    [answer] = actions_of(svc, event_id)
    assert answer.state == State.FAILED and "[window_closed]" in (answer.last_error or "")  # no template yet

    approve_every_template(database_url)
    event_id = _admin_reply_again(app)
    run_worker()
    [answer] = actions_of(svc, event_id)
    sent = _sent(edge)[-1]
    assert answer.state == State.SENT and "ContentSid" in sent and "Body" not in sent
    variables = json.loads(sent["ContentVariables"][0])
    assert variables == {
        "1": "Lucía",
        "2": "418305",
        "3": "https://clientes.example.com/viewticket.php?tid=418305&c=Qm7xT2pa",
    }


def _admin_reply_again(app) -> int:
    params = {**load_sample("whmcs_hooks", "TicketAdminReply"), "replyid": 15219}
    body, headers = signed_request(SECRET, "TicketAdminReply", params)
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202
    return response.get_json()["event_id"]


def test_a_ticket_opened_elsewhere_gets_a_whatsapp_with_the_link_not_the_answer(make_app, run_worker, whmcs, edge):
    # WHMCS emails the answer itself; the WhatsApp says there is one, with the link
    # (tests/hooks/test_company_events.py follows it to Twilio in two languages).
    app = _app(make_app)
    svc = services(app)
    event_id = _admin_reply(app)
    run_worker()
    answer = actions_of(svc, event_id)[0]  # (its window closed here: SMS takes it over)
    assert answer.channel == "whatsapp" and answer.recipient == "+5493515551234"
    body = answer.content["body"]
    assert "viewticket.php?tid=418305&c=Qm7xT2pa" in body and "conversation_id" not in answer.content
