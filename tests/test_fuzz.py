"""Hostile input: schemathesis generates requests from /openapi.json against the app.

Whatever arrives, no endpoint answers 5xx, and a refused request stores nothing. WHMCS
bodies are also signed with the right secret, so the parser behind the signature check
gets fuzzed too, not only the check. The number of examples is bounded to keep the
suite quick (FUZZ_EXAMPLES, default 60 per operation)."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bridge.models import Event
from bridge.services import services
from bridge.signing import signed_request
from tests.helpers import SECRET, count

PAGOS360_TOKEN = "fuzz-token-for-pagos360-0123456789"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))


@pytest.fixture
def fuzz_app(make_app):
    return make_app(
        PAGOS360_WEBHOOK_TOKEN=PAGOS360_TOKEN,
        TWILIO_AUTH_TOKEN="t",
        TWILIO_ACCOUNT_SID="AC" + "3" * 32,
        TWILIO_WHATSAPP_FROM="+14155238886",
        PUBLIC_BASE_URL="https://bridge.example",
    )


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_an_endpoint_or_stores_a_refused_request(case, fuzz_app):
    svc = services(fuzz_app)
    if case.path == "/webhooks/whmcs" and isinstance(case.body, dict):
        # Sign exactly the JSON that will be sent, so the request reaches the parser; and
        # name a real event half the time, so random params reach the intake as well.
        event = str(case.body.get("event", ""))
        params = case.body.get("params", {})
        if isinstance(params, dict) and len(params) % 2 == 0:
            event = "ClientAdd"
        body, headers = signed_request(SECRET, event, params)
        case.body = json.loads(body)
        case.headers = {**(case.headers or {}), **headers}
    if (
        case.path == "/webhooks/pagos360/{token}"
        and case.path_parameters is not None
        and len(str(case.path_parameters)) % 2
    ):
        case.path_parameters = {"token": PAGOS360_TOKEN}  # half the cases get past the token
    before = count(svc, Event)
    response = case.call()
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert count(svc, Event) == before, "a refused request stored something"
