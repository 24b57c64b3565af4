"""POST /webhooks/twilio/status: Twilio's delivery receipts for the messages we sent.

Checked with the twilio library's RequestValidator against the public URL Twilio called
(PUBLIC_BASE_URL, so it works behind a proxy). Receipts arrive out of order; the Action
state machine only moves forward (sent -> delivered -> read, or undelivered / failed),
so a late "sent" after "read" changes nothing. A message reported undelivered or failed
hands its notice over to the next channel of its fallback chain (bridge.core.fallback).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import Schema, fields
from sqlalchemy import select

from bridge import metrics
from bridge.core.events import InboundEvent
from bridge.core.fallback import next_in_chain, with_handover
from bridge.core.states import State
from bridge.inbound.rejections import Rejected
from bridge.inbound.sources import InboundSource, error_response
from bridge.inbound.twilio_signature import signed_form
from bridge.services import services
from bridge.store.models import Action
from bridge.store.outbox import record_event, store_planned
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
NOT_DELIVERED = (State.UNDELIVERED, State.FAILED)
# The channels whose messages Twilio sends, and so reports on here.
TWILIO_CHANNELS = ("whatsapp", "sms")
STATUS_PATH = "/webhooks/twilio/status"


@blueprint.post(STATUS_PATH)
def receive() -> tuple[Response, int]:
    svc = services()
    params = signed_form(svc.settings, STATUS_PATH, "delivery receipts")
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status:
        raise Rejected(400, "MessageSid and MessageStatus are required", reason="schema")
    metrics.event_received("twilio", "MessageStatus")
    with svc.db.session() as session:
        found = session.execute(
            select(Action.id, Action.event_id, Action.content).where(
                Action.provider_ref == sid, Action.channel.in_(TWILIO_CHANNELS)
            )
        ).first()
        action_id = found.id if found is not None else None
        target = STATUS_TO_STATE.get(status)
        if found is not None and target is not None:
            error = describe(params.get("ErrorCode"))
            takes_over = next_in_chain(found.content, params.get("ErrorCode")) if target in NOT_DELIVERED else []
            reason = with_handover(f"Twilio: {status}" + (f" ({error})" if error else ""), takes_over)
            extra: dict[str, Any] = {"last_error": error} if error else {}  # column values for move's UPDATE
            moved = move(session, found.id, target, reason, expect=SENT_OR_LATER, **extra)
            if moved and takes_over:  # only the receipt that moved it hands over: a repeat changes nothing
                store_planned(session, svc.queue, found.event_id, takes_over)
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
    path=STATUS_PATH,
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
