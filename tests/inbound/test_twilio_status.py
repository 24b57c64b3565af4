"""POST /webhooks/twilio/status: signed delivery receipts, in any order, never backwards."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from bridge.services import services
from bridge.store.models import Action, Event
from tests.helpers import actions_of, load_form, transitions_of

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")

TOKEN = "twilio-auth-token-for-tests"
SID = "AC" + "2" * 32
PUBLIC = "https://bridge.hosting.example"
CALLBACK = f"{PUBLIC}/webhooks/twilio/status"
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"


@pytest.fixture
def app(make_app):
    return make_app(
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_WHATSAPP_FROM="+14155238886",
        TWILIO_API_BASE="https://twilio.test",
        PUBLIC_BASE_URL=PUBLIC,
    )


def _sample(name: str) -> dict[str, str]:
    return load_form(f"status_callback.{name}")


def _post(app, params: dict[str, str], signature: str | None = None):
    signature = RequestValidator(TOKEN).compute_signature(CALLBACK, params) if signature is None else signature
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return app.test_client().post("/webhooks/twilio/status", data=params, headers=headers)


@pytest.fixture
def sent_whatsapp(app, post_event, run_worker):
    """A WhatsApp welcome sent through Twilio (at the HTTP edge), with the sid of the sample."""
    sid = _sample("delivered")["MessageSid"]
    with responses.RequestsMock() as edge:
        edge.post(MESSAGES_URL, json={"sid": sid, "status": "queued"}, status=201)
        event_id = post_event("ClientAdd").get_json()["event_id"]
        run_worker(app)
        sent = parse_qs(edge.calls[0].request.body)
    assert sent["StatusCallback"] == [CALLBACK]  # the bridge asks Twilio for receipts
    return next(a for a in actions_of(services(app), event_id) if a.channel == "whatsapp")


def _state(app, action_id):
    with services(app).db.session() as session:
        return session.get(Action, action_id).state


def test_delivered_then_read(app, sent_whatsapp):
    assert _post(app, _sample("delivered")).status_code == 200
    assert _state(app, sent_whatsapp.id) == "delivered"
    assert _post(app, _sample("read")).get_json()["state"] == "read"
    assert [t[1:] for t in transitions_of(services(app), sent_whatsapp.id)[-2:]] == [
        ("delivered", "Twilio: delivered"),
        ("read", "Twilio: read"),
    ]


def test_out_of_order_never_moves_backwards(app, sent_whatsapp):
    _post(app, _sample("read"))
    late = [_post(app, {**_sample("delivered"), "MessageStatus": status}) for status in ("delivered", "sent", "queued")]
    assert all(r.status_code == 200 and r.get_json()["state"] == "unchanged" for r in late)
    assert _state(app, sent_whatsapp.id) == "read"


def test_undelivered_records_the_error_code_and_its_meaning(app, sent_whatsapp):
    params = {**_sample("undelivered_63016"), "MessageSid": sent_whatsapp.provider_ref}
    assert _post(app, params).get_json()["state"] == "undelivered"
    with services(app).db.session() as session:
        action = session.get(Action, sent_whatsapp.id)
    assert action.state == "undelivered"
    assert (
        action.last_error
        == "63016: outside the 24-hour window: a business-initiated message needs an approved template"
    )


def test_a_signature_for_another_url_is_refused(app, sent_whatsapp):
    params = _sample("delivered")
    wrong = RequestValidator(TOKEN).compute_signature("http://127.0.0.1:8000/webhooks/twilio/status", params)
    assert _post(app, params, signature=wrong).status_code == 401


def test_an_unknown_message_is_recorded_and_changes_nothing(app, sent_whatsapp):
    params = {**_sample("delivered"), "MessageSid": "SM" + "f" * 32}
    response = _post(app, params)
    assert response.status_code == 200 and response.get_json() == {"action_id": None, "state": "unchanged"}
    with services(app).db.session() as session:
        recorded = session.scalars(select(Event).where(Event.source == "twilio")).all()
    assert [(e.type, e.external_id) for e in recorded] == [("MessageStatus", f"{'SM' + 'f' * 32}:delivered")]
    assert _state(app, sent_whatsapp.id) == "sent"


def test_a_receipt_missing_its_fields_is_400(app, sent_whatsapp):
    assert _post(app, {"AccountSid": SID}).status_code == 400


def test_a_failed_receipt_after_sent_fails_the_action(app, sent_whatsapp):
    with services(app).db.session() as session:
        session.execute(update(Action).where(Action.id == sent_whatsapp.id).values(last_error=None))
    params = {**_sample("delivered"), "MessageStatus": "failed", "ErrorCode": "63003"}
    assert _post(app, params).get_json()["state"] == "failed"
    # The notice is not lost: its fallback (an SMS, bridge.core.fallback) takes it over.
    assert (
        transitions_of(services(app), sent_whatsapp.id)[-1][2]
        == "Twilio: failed (63003: the number is not on WhatsApp); sms takes the notice over"
    )
    taken_over = [a for a in actions_of(services(app), sent_whatsapp.event_id) if a.channel == "sms"]
    assert [(a.recipient, a.hook) for a in taken_over] == [(sent_whatsapp.recipient, "fallback")]
