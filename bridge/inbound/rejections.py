"""What the inbound views share: the refusal they raise, and the one answer every refusal gets.

A leaf of the webhooks package: the views (whmcs, pagos360, twilio_status) and the
package's error handlers import it, and it imports none of them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from bridge import metrics
from bridge.inbound.parse import parse_json_object
from bridge.ops.request_log import route_label

log = logging.getLogger("bridge.webhooks")  # the name the refusal lines have always had
# Paths whose callers are programs: their errors are answered in JSON.
MACHINE_PATHS = ("/webhooks/", "/api/", "/openapi.json", "/healthz", "/readyz")
# The reason a refusal is counted under (bridge_requests_rejected_total) when the code that
# refuses names none: a short fixed word per status, never the message, which varies.
REASONS = {
    400: "bad_request",
    401: "bad_signature",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "wrong_content_type",
    422: "unknown_event",
}


class Rejected(Exception):
    """A request the bridge refuses; nothing of it is stored."""

    def __init__(self, status: int, error: str, *, reason: str | None = None, **detail: Any) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.reason = reason  # for the metrics; None: the status's word in REASONS
        self.detail = detail


def require_json() -> None:
    require_content_type("application/json")


def require_content_type(mimetype: str) -> None:
    """415 unless the request says its body is `mimetype` (parameters such as charset aside)."""
    if request.mimetype != mimetype:
        raise Rejected(415, f"Content-Type must be {mimetype}")


def request_body() -> bytes:
    """The request's body, or 413 when it is longer than MAX_BODY_BYTES, whether or not the
    request said how long it is.

    Werkzeug refuses a Content-Length over the limit before reading, but a body sent without
    one (chunked) it silently cuts at the limit: the view would then refuse the remains for
    the wrong reason (a bad signature, broken JSON), or accept a body whose first bytes
    happen to parse. So when the limit is reached, one more byte is asked of the server's
    own stream, below werkzeug's cut. The body is kept on the request (`request.form` reads
    it from there)."""
    body = request.get_data(cache=True)  # a Content-Length over the limit: 413 here
    limit = request.max_content_length
    if limit is not None and len(body) >= limit and request.content_length is None:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return body


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a cleaned JSON object (bridge.inbound.parse), or a 400 that says what is
    wrong with it."""
    return parse_json_object(body)


def load(schema: Schema, data: dict[str, Any], what: str) -> dict[str, Any]:
    """`schema.load(data)`, or a 400 naming `what` was expected and the fields at fault."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Rejected(400, f"body is not {what}", reason="schema", fields=exc.messages) from None


def rejection(status: int, error: str, reason: str | None = None, **detail: Any) -> Response:
    # One line per rejected request, with the reason and nothing of the body. The route's
    # pattern (bridge.ops.request_log), never the path: a path may hold a secret token.
    route = route_label()
    log.warning("rejected %s %s from %s: %d %s", request.method, route, request.remote_addr, status, error)
    # Counted by pattern too; an unknown path is one label value, not one per path tried.
    metrics.request_rejected(route, reason or REASONS.get(status, f"http_{status}"))
    response = jsonify(error=error, **detail)
    response.status_code = status
    return response
