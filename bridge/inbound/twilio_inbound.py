"""POST /webhooks/twilio/inbound: a customer's WhatsApp message to the company's number.

Twilio calls this URL (the number's or Messaging Service's incoming-message webhook)
synchronously and waits for TwiML. The view checks Twilio's signature (the same check as
the delivery receipts), records the message as an event (source "twilio", type
`WhatsAppMessage`, one per MessageSid however often Twilio retries), opens the number's
24-hour window, and answers empty TwiML at once: what the message means (an opt-out word,
a ticket, a reply to staff) is decided in the worker, like every other event
(hooks/whatsapp_inbound.py).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from marshmallow import Schema, ValidationError, fields, validate

from bridge import metrics
from bridge.core.events import WHATSAPP_MESSAGE, InboundEvent
from bridge.core.phones import whatsapp_sender
from bridge.inbound.rejections import Rejected
from bridge.inbound.sources import InboundSource, error_response
from bridge.inbound.twilio_signature import signed_form
from bridge.services import services
from bridge.store.models import utcnow
from bridge.store.outbox import record_event
from bridge.store.whatsapp_numbers import open_window

blueprint = Blueprint("twilio_inbound", __name__)
log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio/inbound"
# Twilio's answer for "received, nothing to reply now": replies go later, through the API.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10  # WhatsApp sends at most one medium per message; Twilio documents up to 10


@blueprint.post(INBOUND_PATH)
def receive() -> Response:
    svc = services()
    params = signed_form(svc.settings, INBOUND_PATH, "incoming WhatsApp messages")
    errors = TwilioInboundSchema().validate(params)
    if errors:
        field = sorted(errors)[0]
        raise Rejected(400, f"{field}: {' '.join(map(str, errors[field]))}", reason="schema", field=field)
    number = whatsapp_sender(params["From"])
    if number is None:
        raise Rejected(400, "From: not a WhatsApp sender (whatsapp:+<number>)", reason="schema", field="From")
    metrics.event_received("twilio", WHATSAPP_MESSAGE)
    inbound = InboundEvent("twilio", WHATSAPP_MESSAGE, params["MessageSid"], {"params": params, "number": number})
    result = record_event(svc.db, inbound, plan_on=svc.queue)
    if result.created:
        with svc.db.session() as session:
            open_window(session, number, utcnow())
            session.commit()
    answer = Response(EMPTY_TWIML, 200, mimetype="text/xml")
    answer.headers["X-Bridge-Event-Id"] = str(result.event_id)  # for the log and the tests; Twilio ignores it
    return answer


def _media_count(value: str) -> None:
    if not value.isdigit() or int(value) > MAX_MEDIA:
        raise ValidationError(f"must be a whole number from 0 to {MAX_MEDIA}")


class TwilioInboundSchema(Schema):
    """The form fields of Twilio's incoming-message webhook the bridge reads. Twilio adds
    fields without notice: the others are kept with the event, never refused."""

    MessageSid = fields.String(required=True, validate=validate.Regexp(r"^(SM|MM)[0-9a-fA-F]{32}$"))
    From = fields.String(required=True)
    To = fields.String()
    Body = fields.String()
    NumMedia = fields.String(validate=_media_count)
    ProfileName = fields.String()
    WaId = fields.String()
    ButtonPayload = fields.String()
    ButtonText = fields.String()
    OriginalRepliedMessageSid = fields.String()

    class Meta:
        unknown = "include"


SOURCE = InboundSource(
    source="twilio",
    blueprint=blueprint,
    path=INBOUND_PATH,
    schema=TwilioInboundSchema,
    schema_name="TwilioInboundMessage",
    content_type="application/x-www-form-urlencoded",
    operation={
        "summary": "A customer's WhatsApp message (Twilio's incoming-message webhook), signed with X-Twilio-Signature",
        "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {
                "description": "recorded (or recorded before): empty TwiML",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            },
            "400": error_response("MessageSid or From missing or malformed, or a value that cannot be stored"),
            "401": error_response("signature missing or wrong"),
            "404": error_response("incoming messages not configured"),
            "413": error_response("body too large"),
            "415": error_response("not application/x-www-form-urlencoded"),
        },
    },
)
