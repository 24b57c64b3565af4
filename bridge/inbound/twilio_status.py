"""POST /webhooks/twilio/status: Twilio's delivery receipts for the messages we sent.

Checked with the twilio library's RequestValidator against the public URL Twilio called
(PUBLIC_BASE_URL, so it works behind a proxy). Receipts arrive out of order; the Action
state machine only moves forward (sent -> delivered -> read, or undelivered / failed),
so a late "sent" after "read" changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, fields
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bridge import metrics
from bridge.core.events import InboundEvent
from bridge.core.states import State
from bridge.inbound.parse import clean
from bridge.inbound.rejections import Rejected, request_body, require_content_type
from bridge.inbound.sources import InboundSource, error_response
from bridge.services import services
from bridge.store.models import Action
from bridge.store.outbox import record_event
from bridge.store.transitions import move
from providers.twilio_errors import describe

blueprint = Blueprint("twilio_status", __name__)
log = logging.getLogger(__name__)

# Twilio's MessageStatus -> the Action state it means. queued/sending/sent/accepted add
# nothing to the worker's own "sent".
STATUS_TO_STATE = {
    "delivered": State.DELIVERED,
    "read": State.READ,
    "undelivered": State.UNDELIVERED,
    "failed": State.FAILED,
}
SENT_OR_LATER = [State.SENT, State.DELIVERED, State.READ]


@blueprint.post("/webhooks/twilio/status")
def receive() -> tuple[Response, int]:
    svc = services()
    settings = svc.settings
    if not (settings.twilio_auth_token and settings.public_base_url):
        raise Rejected(404, "delivery receipts need TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL", reason="not_configured")
    # Twilio posts its fields form-encoded; any other body would read as no fields at all.
    require_content_type("application/x-www-form-urlencoded")
    request_body()  # refuses a body over MAX_BODY_BYTES, chunked or not, before the form is read
    params = request.form.to_dict()
    url = settings.twilio_status_callback_url or ""
    if request.query_string:
        url += "?" + request.query_string.decode()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise Rejected(401, "X-Twilio-Signature does not match")
    params = clean(params)  # after the check, which signs the fields as sent; before any query
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status:
        raise Rejected(400, "MessageSid and MessageStatus are required", reason="schema")
    metrics.event_received("twilio", "MessageStatus")
    with svc.db.session() as session:
        action_id = session.scalar(select(Action.id).where(Action.provider_ref == sid, Action.channel == "whatsapp"))
        target = STATUS_TO_STATE.get(status)
        if action_id is not None and target is not None:
            error = describe(params.get("ErrorCode"))
            reason = f"Twilio: {status}" + (f" ({error})" if error else "")
            extra: dict[str, Any] = {"last_error": error} if error else {}  # column values for move's UPDATE
            moved = move(session, action_id, target, reason, expect=SENT_OR_LATER, **extra)
            return jsonify(action_id=action_id, state=str(target) if moved else "unchanged"), 200
    if action_id is None:
        # Not one of ours, or it arrived before the worker recorded the sid: keep it on record.
        inbound = InboundEvent("twilio", "MessageStatus", f"{sid}:{status}", {"params": params})
        record_event(svc.db, inbound, plan_on=None)
        log.info("delivery receipt for unknown message %s (%s) recorded", sid, status)
    return jsonify(action_id=action_id, state="unchanged"), 200


class TwilioStatusSchema(Schema):
    """The form fields of a Twilio status callback the bridge reads (Twilio sends more)."""

    MessageSid = fields.String(required=True)
    MessageStatus = fields.String(required=True)
    ErrorCode = fields.String()


SOURCE = InboundSource(
    source="twilio",
    blueprint=blueprint,
    path="/webhooks/twilio/status",
    schema=TwilioStatusSchema,
    schema_name="TwilioStatus",
    content_type="application/x-www-form-urlencoded",
    operation={
        "summary": "A Twilio delivery receipt, signed with X-Twilio-Signature",
        "parameters": [{"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "applied, or recorded when the message is unknown"},
            "400": error_response("fields missing, or a value that cannot be stored"),
            "401": error_response("signature missing or wrong"),
            "404": error_response("receipts not configured"),
            "413": error_response("body too large"),
            "415": error_response("not application/x-www-form-urlencoded"),
        },
    },
)
