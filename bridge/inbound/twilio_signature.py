"""Twilio's signed form posts (delivery receipts, incoming messages): one check for both.

Twilio signs each request with X-Twilio-Signature: HMAC-SHA1, keyed with the auth token, of
the URL it called plus the POST fields sorted by name. The URL is the public one
(PUBLIC_BASE_URL + the path), so the check holds behind a proxy; the twilio library's
RequestValidator does the computing.
"""

from __future__ import annotations

from flask import request
from twilio.request_validator import RequestValidator

from bridge.core.settings import Settings
from bridge.inbound.parse import clean
from bridge.inbound.rejections import Rejected, request_body, require_content_type


def signed_form(settings: Settings, path: str, what: str) -> dict[str, str]:
    """The request's form fields, once Twilio's signature over them is checked; cleaned for
    storage (after the check, which signs the fields as sent). Refuses with 404 while
    `what` (e.g. "delivery receipts") is not configured, 415 for another body, 413 for a
    body over MAX_BODY_BYTES, 401 for a missing or wrong signature."""
    if not (settings.twilio_auth_token and settings.public_base_url):
        raise Rejected(404, f"{what} need TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL", reason="not_configured")
    # Twilio posts its fields form-encoded; any other body would read as no fields at all.
    require_content_type("application/x-www-form-urlencoded")
    request_body()  # refuses a body over MAX_BODY_BYTES, chunked or not, before the form is read
    params = request.form.to_dict()
    url = settings.public_base_url.rstrip("/") + path
    if request.query_string:
        url += "?" + request.query_string.decode()
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise Rejected(401, "X-Twilio-Signature does not match")
    return clean(params)
