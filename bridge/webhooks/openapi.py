"""GET /openapi.json: the inbound endpoints described from their own marshmallow schemas
(apispec), so the description cannot drift from what the views accept; the fuzz tests
(schemathesis) generate their requests from it."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, jsonify
from marshmallow import Schema, fields

from bridge.webhooks.pagos360 import NotificationSchema
from bridge.webhooks.whmcs import EnvelopeSchema

blueprint = Blueprint("openapi", __name__)


class TwilioStatusSchema(Schema):
    """The form fields of a Twilio status callback the bridge reads (Twilio sends more)."""

    MessageSid = fields.String(required=True)
    MessageStatus = fields.String(required=True)
    ErrorCode = fields.String()


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="WHMCS bridge: inbound endpoints",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
    )
    spec.components.schema("WhmcsEvent", schema=EnvelopeSchema)
    spec.components.schema("Pagos360Notification", schema=NotificationSchema)
    spec.components.schema("TwilioStatus", schema=TwilioStatusSchema)
    signed = [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]
    spec.path(
        path="/webhooks/whmcs",
        operations={
            "post": {
                "summary": "A WHMCS hook event, signed in the Standard Webhooks form",
                "parameters": signed,
                "requestBody": {"required": True, "content": {"application/json": {"schema": "WhmcsEvent"}}},
                "responses": {
                    "202": {"description": "recorded"},
                    "400": _error("not JSON, not an event envelope, or a value that cannot be stored"),
                    "401": _error("signature missing, wrong, or timestamp out of window"),
                    "413": _error("body too large"),
                    "415": _error("not application/json"),
                    "422": _error("unknown event name"),
                },
            }
        },
    )
    spec.path(
        path="/webhooks/pagos360/{token}",
        operations={
            "post": {
                "summary": "A Pagos360 notification (a hint: the entity is read back from Pagos360)",
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": "Pagos360Notification"}}},
                "responses": {
                    "200": {"description": "recorded"},
                    "400": _error("not JSON, not a notification, or a value that cannot be stored"),
                    "404": _error("wrong token"),
                    "413": _error("body too large"),
                    "415": _error("not application/json"),
                },
            }
        },
    )
    spec.path(
        path="/webhooks/twilio/status",
        operations={
            "post": {
                "summary": "A Twilio delivery receipt, signed with X-Twilio-Signature",
                "parameters": [
                    {"name": "X-Twilio-Signature", "in": "header", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": "TwilioStatus"}},
                },
                "responses": {
                    "200": {"description": "applied, or recorded when the message is unknown"},
                    "400": _error("fields missing, or a value that cannot be stored"),
                    "401": _error("signature missing or wrong"),
                    "404": _error("receipts not configured"),
                    "413": _error("body too large"),
                    "415": _error("not application/x-www-form-urlencoded"),
                },
            }
        },
    )
    return spec.to_dict()


@blueprint.get("/openapi.json")
def openapi() -> Any:
    return jsonify(build_spec())
