"""POST /webhooks/pagos360/<token>: Pagos360's notifications, which carry no signature.

The secret token in the URL (PAGOS360_WEBHOOK_TOKEN, compared in constant time) keeps
strangers out, and the notification is only a hint: the planner reads the entity back
from Pagos360's API and the hooks act on what the API says. Pagos360 resends anything
not answered with 2xx, so once recorded the answer is 2xx, whatever the entity.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from bridge import metrics
from bridge.core.events import InboundEvent
from bridge.inbound.redaction import redact
from bridge.inbound.rejections import Rejected, json_object, load, request_body, require_json
from bridge.inbound.sources import InboundSource, error_response
from bridge.services import services
from bridge.store.outbox import record_event

blueprint = Blueprint("pagos360_webhook", __name__)

# Pagos360 names some entities two ways; the hooks register for one.
ENTITY_ALIASES = {"adhesion": "card_adhesion", "debit_request": "card_debit_request"}


def canonical_entity(name: str) -> str:
    """The one name an entity is stored and handled under, whichever alias Pagos360 used."""
    return ENTITY_ALIASES.get(name, name)


class EntityId(fields.Field):
    """Pagos360 sends ids as numbers; a string of letters, digits, - and _ is taken too.

    Loads to the id's one spelling: a number written with leading zeros, or as a string,
    is the same entity as the bare number (553201, "553201" and "000553201" are one id);
    any other id is kept exactly as sent."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(value)
        if isinstance(value, bool | dict | list) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text):
            raise ValidationError("must be a number or an id string")
        return str(int(text)) if text.isdigit() else text


class NotificationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    entity_name = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]{1,64}$"))
    entity_id = EntityId(required=True)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]{1,64}$"))
    payload = fields.Dict(keys=fields.String(), load_default=dict)


NOTIFICATION = NotificationSchema()  # schemas keep no state between loads: one for all requests


@blueprint.post("/webhooks/pagos360/<token>")
def receive(token: str) -> tuple[Response, int]:
    svc = services()
    expected = svc.settings.pagos360_webhook_token
    # 404, not 401: a wrong token should not even confirm the endpoint exists.
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Rejected(404, "not found", reason="bad_token")
    require_json()
    note = load(NOTIFICATION, json_object(request_body()), "a Pagos360 notification")
    entity_id = note["entity_id"]
    entity = canonical_entity(note["entity_name"])
    payload = redact({**note, "entity_name": entity, "entity_id": entity_id})
    # The identity is built from the canonical spellings only, so that one notification
    # sent twice in different words is one event (and one effect); its `type` stays part of
    # it: a debit `paid` and later `reverted` are two events.
    inbound = InboundEvent(
        source="pagos360",
        type=entity,
        external_id=f"{entity}:{entity_id}:{note['type']}",
        payload=payload,
        client_id=_client_id(svc.settings.pagos360_external_reference, note["payload"]),
    )
    result = record_event(svc.db, inbound, plan_on=svc.queue)
    metrics.event_received("pagos360", inbound.type, duplicate=not result.created)
    return jsonify(event_id=result.event_id), 200


def _client_id(pattern: str, payload: dict[str, Any]) -> str | None:
    match = re.match(pattern, str(payload.get("external_reference") or ""))
    return match.group(1) if match else None


SOURCE = InboundSource(
    source="pagos360",
    blueprint=blueprint,
    path="/webhooks/pagos360/{token}",
    schema=NotificationSchema,
    schema_name="Pagos360Notification",
    content_type="application/json",
    operation={
        "summary": "A Pagos360 notification (a hint: the entity is read back from Pagos360)",
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "recorded"},
            "400": error_response("not JSON, not a notification, or a value that cannot be stored"),
            "404": error_response("wrong token"),
            "413": error_response("body too large"),
            "415": error_response("not application/json"),
        },
    },
)
