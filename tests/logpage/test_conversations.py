"""The delivery log's WhatsApp conversations: what the customer wrote and what the bridge
sent them, in time order, the number masked, reached without the number in any URL."""

from __future__ import annotations

import re

import responses

from bridge.services import services
from tests.helpers import SAMPLE_NUMBER, load_form, twilio_post
from tests.hooks.test_whatsapp_inbound import MESSAGES_URL, PUBLIC, TOKEN, TWILIO
from tests.logpage.conftest import log_in


def _writes(app, text: str, sid: int) -> int:
    params = {**load_form("inbound.text"), "MessageSid": f"SM{sid:032x}", "From": f"whatsapp:{SAMPLE_NUMBER}"}
    params.update(Body=text, WaId=SAMPLE_NUMBER.lstrip("+"))
    return int(twilio_post(app, "/webhooks/twilio/inbound", params, TOKEN, PUBLIC).headers["X-Bridge-Event-Id"])


def test_a_conversation_shows_both_sides_in_order_with_the_number_masked(make_app, run_worker):
    from bridge.logpage.auth import create_staff

    app = make_app(**TWILIO)
    create_staff(services(app).db, "ana@hosting.example", "correct horse battery")
    with responses.RequestsMock() as twilio:
        twilio.post(MESSAGES_URL, json={"sid": "SM" + "c" * 32, "status": "queued"}, status=201)
        first = _writes(app, "Hola, ¿me llaman al 0351 15 555-1234?", sid=1)
        _writes(app, "BAJA", sid=2)
        run_worker()
    client = app.test_client()
    assert log_in(client, "ana@hosting.example", "correct horse battery").status_code == 302

    page = client.get(f"/log/conversations/{first}").get_data(as_text=True)

    lines = re.findall(r'<li class="(inbound|outbound)"', page)
    assert lines == ["inbound", "inbound", "outbound"]  # the two messages, then the confirmation
    assert "BAJA" in page and "no te vamos a enviar más mensajes" in page
    assert "opted out of WhatsApp" in page and "free-form messages open until" in page
    digits = SAMPLE_NUMBER.lstrip("+")
    assert digits not in page.replace(" ", "") and "555-1234" not in page  # masked, however written
    listing = client.get("/log/conversations").get_data(as_text=True)
    assert f"/log/conversations/{first + 1}" in listing and digits not in listing.replace(" ", "")
    event_page = client.get(f"/log/events/{first}").get_data(as_text=True)
    assert f'href="/log/conversations/{first}"' in event_page and digits not in event_page.replace(" ", "")


def test_only_a_customers_message_has_a_conversation(log_app, staff_client, post_event):
    event_id = post_event("ClientAdd").get_json()["event_id"]
    assert staff_client.get(f"/log/conversations/{event_id}").status_code == 404
    assert staff_client.get("/log/conversations/999999").status_code == 404
    assert "Nobody has written on WhatsApp yet" in staff_client.get("/log/conversations").get_data(as_text=True)


def test_the_pages_are_for_staff_only(log_app):
    for path in ("/log/conversations", "/log/conversations/1"):
        response = log_app.test_client().get(path)
        assert response.status_code == 302 and "/log/login" in response.headers["Location"]
