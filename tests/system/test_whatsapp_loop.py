"""WhatsApp in production, the whole loop, against real components.

An alert goes as its approved template; the customer answers, signed as Twilio signs it; the
answer opens their WHMCS ticket; the staff's reply goes back on WhatsApp inside the window;
BAJA stops the next alert; and a message Twilio reports failed (63003, not on WhatsApp)
falls back to SMS, whose own failure falls back to email.

Real: the bridge's webhooks, queue and worker, the database, Prism serving Twilio's own
Messages and Content API descriptions behind small stateful stand-ins (every request the
bridge makes to Twilio is checked against Twilio's contract), an SMTP server. Faked at the
HTTP edge: WHMCS's API (recorded samples).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import responses

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.scheduled.template_sync import poll_templates, sync_templates
from bridge.services import services
from bridge.store.models import utcnow
from bridge.wiring import build_content_api
from tests.helpers import SAMPLE_NUMBER, SECRET, actions_of, load_form, load_sample, twilio_post
from tests.support.content_stand_in import ContentStandIn, content_prism
from tests.support.messages_stand_in import MessagesStandIn
from tests.support.prism import TEST_ACCOUNT_SID, PrismTwilio
from tests.support.smtp_server import smtp_server
from tests.support.whmcs_stand_in import API_URL, SETTINGS, WhmcsStandIn

pytestmark = pytest.mark.slow  # Prism twice, a mail server, a dozen events through the worker

TOKEN = "loop-auth-token"
PUBLIC = "https://bridge.hosting.example"
WHATSAPP = f"whatsapp:{SAMPLE_NUMBER}"
SMS_FROM = "+14155550100"


@pytest.fixture(scope="module")
def messages_prism() -> Iterator[PrismTwilio]:
    with PrismTwilio() as server:
        yield server


@pytest.fixture(scope="module")
def contents_prism() -> Iterator[PrismTwilio]:
    with content_prism() as server:
        yield server


def _config(tmp_path: Path) -> str:
    """The shipped config, with the suspension notice on WhatsApp alone (SMS, then email, as
    its fallback) so that the whole chain shows."""
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = config / "routing.toml"
    old = '[events.AfterModuleSuspend]\nchannels = ["whatsapp", "email"]'
    text = routing.read_text()
    assert old in text
    routing.write_text(
        text.replace(old, '[events.AfterModuleSuspend]\nchannels = ["whatsapp"]\nfallback = ["sms", "email"]')
    )
    return str(config)


def _whmcs_event(app, event: str, **changes: object) -> int:
    params = {**load_sample("whmcs_hooks", event), **changes}
    body, headers = signed_request(SECRET, event, params)
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["event_id"]


def _customer_writes(app, text: str, sid: int) -> int:
    params = {**load_form("inbound.text"), "MessageSid": f"SM{sid:032x}", "From": WHATSAPP, "Body": text}
    response = twilio_post(app, "/webhooks/twilio/inbound", params, TOKEN, PUBLIC)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    return int(response.headers["X-Bridge-Event-Id"])


def _receipt(app, sid: str, status: str, code: str) -> None:
    params = {**load_form("status_callback.delivered"), "MessageSid": sid, "MessageStatus": status, "ErrorCode": code}
    assert twilio_post(app, "/webhooks/twilio/status", params, TOKEN, PUBLIC).status_code == 200


def test_the_whole_whatsapp_loop(make_app, run_worker, tmp_path, messages_prism, contents_prism):
    whmcs = WhmcsStandIn()
    with (
        MessagesStandIn(messages_prism) as twilio,
        ContentStandIn(contents_prism) as content,
        smtp_server() as (inbox, smtp_port),
        responses.RequestsMock(assert_all_requests_are_fired=False) as edge,
    ):
        edge.add_callback(responses.POST, API_URL, callback=whmcs)
        edge.add_passthru(twilio.base_url)
        edge.add_passthru(content.base_url)
        app = make_app(
            **SETTINGS,
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            TWILIO_SMS_FROM=SMS_FROM,
            TWILIO_API_BASE=twilio.base_url,
            TWILIO_CONTENT_API_BASE=content.base_url,
            PUBLIC_BASE_URL=PUBLIC,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp_port,
            SMTP_STARTTLS=False,
            BRIDGE_CONFIG_DIR=_config(tmp_path),
        )
        svc = services(app)

        # The templates, made and approved (WhatsApp's review played by the stand-in).
        report = sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
        assert report.errors == [] and len(report.made) == len(svc.catalog.whatsapp_notices())
        for template in list(content.templates.values()):
            content.decide(template.name, "approved")
        for _ in range(2):  # received -> pending -> approved
            poll_templates(svc, build_content_api(svc.settings), utcnow(), timedelta(0))

        # 1. An alert goes as its approved template: the customer has not written yet.
        welcome = _whmcs_event(app, "ClientAdd")
        run_worker()
        [alert] = twilio.to(WHATSAPP)
        assert alert["ContentSid"].startswith("HX") and "Body" not in alert
        assert json.loads(alert["ContentVariables"])["1"] == "Lucía"
        assert [a.state for a in actions_of(svc, welcome) if a.channel == "whatsapp"] == [State.SENT]

        # 2. The customer answers; the answer opens their ticket, and they are told once.
        _customer_writes(app, "No puedo pagar la factura A-0088231, me da error", sid=1)
        run_worker()
        [opened] = [form for action, form in whmcs.calls if action == "OpenTicket"]
        assert opened["clientid"] == "1042" and opened["message"].startswith("No puedo pagar la factura")
        acknowledgement = twilio.to(WHATSAPP)[-1]
        assert (
            acknowledgement["Body"].startswith("Hola Lucía, recibimos tu mensaje")
            and "ContentSid" not in acknowledgement
        )

        # 3. The staff answer goes back inside the window, in the staff member's own words.
        _whmcs_event(app, "TicketAdminReply")
        run_worker()
        answer = twilio.to(WHATSAPP)[-1]
        assert "Carolina Sosa te respondió en el ticket N.º 418305" in answer["Body"]
        assert "el rechazo vino del banco emisor" in answer["Body"]

        # 4. BAJA: confirmed once, and the next alert to that number is skipped.
        sent_so_far = len(twilio.to(WHATSAPP))
        _customer_writes(app, "BAJA", sid=2)
        run_worker()
        assert "ALTA" in twilio.to(WHATSAPP)[-1]["Body"]
        suspended = _whmcs_event(app, "AfterModuleSuspend")
        run_worker()
        [skipped] = [a for a in actions_of(svc, suspended) if a.channel == "whatsapp"]
        assert skipped.state == State.SKIPPED and "opted out of WhatsApp (BAJA" in (skipped.last_error or "")
        assert len(twilio.to(WHATSAPP)) == sent_so_far + 1  # the confirmation, nothing else

        # 5. ALTA, then an alert Twilio reports failed, 63003: SMS takes over; the SMS is
        # reported undelivered too: email takes over.
        _customer_writes(app, "alta", sid=3)
        run_worker()
        again = _whmcs_event(app, "AfterModuleSuspend", serviceid=5522)
        run_worker()
        [whatsapp] = [a for a in actions_of(svc, again) if a.channel == "whatsapp"]
        assert whatsapp.state == State.SENT and "ContentSid" in twilio.to(WHATSAPP)[-1]
        _receipt(app, whatsapp.provider_ref, "failed", "63003")
        run_worker()
        [sms] = [a for a in actions_of(svc, again) if a.channel == "sms"]
        [text] = twilio.to(SAMPLE_NUMBER)
        assert sms.state == State.SENT and text["From"] == SMS_FROM and text["Body"].isascii()
        _receipt(app, sms.provider_ref, "undelivered", "30003")
        run_worker()
        [email] = [a for a in actions_of(svc, again) if a.channel == "email"]
        assert (email.state, email.hook, email.recipient) == (State.SENT, "fallback", "lucia@radioandina.example")
        assert [m["To"] for m in inbox.messages].count("lucia@radioandina.example") == 2  # the welcome's own, and this
        chain = [(a.channel, a.state) for a in actions_of(svc, again)]
        assert chain == [("whatsapp", State.FAILED), ("sms", State.UNDELIVERED), ("email", State.SENT)]

        # Every request the bridge made to Twilio fitted Twilio's own description.
        assert twilio.refused_by_prism == [] and content.refused_by_prism == []
