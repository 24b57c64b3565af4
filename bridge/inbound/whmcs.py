"""POST /webhooks/whmcs: WHMCS hook events, signed in the Standard Webhooks form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from marshmallow import EXCLUDE, Schema, fields
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bridge import metrics
from bridge.core.event_keys import own_key
from bridge.core.events import WHMCS_EVENTS, InboundEvent
from bridge.core.whmcs_params import USER_ID_EVENTS, stated_client_id
from bridge.inbound.redaction import redact
from bridge.inbound.rejections import Rejected, json_object, load, request_body, require_json
from bridge.inbound.sources import InboundSource, error_response
from bridge.services import services
from bridge.store.outbox import record_event

blueprint = Blueprint("whmcs_webhook", __name__)

KNOWN_EVENTS = WHMCS_EVENTS


class EnvelopeSchema(Schema):
    """`{"event": "<WHMCS hook name>", "params": {...}}` as the PHP hook file posts it."""

    class Meta:
        unknown = EXCLUDE

    event = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), required=True)


ENVELOPE = EnvelopeSchema()  # schemas keep no state between loads: one for all requests


@blueprint.post("/webhooks/whmcs")
def receive() -> tuple[Response, int]:
    svc = services()
    require_json()
    body = request_body()  # over MAX_BODY_BYTES: 413 here
    webhook_id = _verify(body, svc.settings.webhook_secrets)
    envelope = _parse(body)
    if envelope["event"] not in KNOWN_EVENTS:
        raise Rejected(422, f"unknown event {envelope['event']!r}", known_events=list(KNOWN_EVENTS))
    params = redact(envelope["params"])
    payload: dict[str, Any] = {"event": envelope["event"], "params": params}
    # A hook WHMCS may fire twice for one happening is stored under its own key
    # (bridge.core.event_keys); the post's webhook id is kept beside it for the log.
    key = own_key(envelope["event"], params)
    if key:
        payload["webhook_id"] = webhook_id
    inbound = InboundEvent(
        source="whmcs",
        type=envelope["event"],
        external_id=key or webhook_id,
        payload=payload,
        client_id=None if envelope["event"] in USER_ID_EVENTS else stated_client_id(params),
    )
    result = record_event(svc.db, inbound, plan_on=svc.queue)
    metrics.event_received("whmcs", inbound.type, duplicate=not result.created)
    return jsonify(event_id=result.event_id), 202


def _verify(body: bytes, secrets: list[str]) -> str:
    """Check the Standard Webhooks signature against each accepted secret; return webhook-id."""
    headers = {k: request.headers.get(k, "") for k in SIGNATURE_HEADERS}
    last_error = "missing webhook-id, webhook-timestamp or webhook-signature"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return headers["webhook-id"]
        except WebhookVerificationError as exc:
            last_error = str(exc)
        except (ValueError, UnicodeDecodeError):
            # The library splits and base64-decodes the header without guarding it.
            last_error = "malformed webhook-signature header or body"
    raise Rejected(401, f"signature check failed: {last_error}")


def _parse(body: bytes) -> dict[str, Any]:
    return load(ENVELOPE, json_object(body), "a WHMCS event envelope")


SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

SOURCE = InboundSource(
    source="whmcs",
    blueprint=blueprint,
    path="/webhooks/whmcs",
    schema=EnvelopeSchema,
    schema_name="WhmcsEvent",
    content_type="application/json",
    operation={
        "summary": "A WHMCS hook event, signed in the Standard Webhooks form",
        "parameters": [
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"}} for name in SIGNATURE_HEADERS
        ],
        "responses": {
            "202": {"description": "recorded"},
            "400": error_response("not JSON, not an event envelope, or a value that cannot be stored"),
            "401": error_response("signature missing, wrong, or timestamp out of window"),
            "413": error_response("body too large"),
            "415": error_response("not application/json"),
            "422": error_response("unknown event name"),
        },
    },
)
