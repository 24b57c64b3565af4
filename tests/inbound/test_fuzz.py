"""Hostile input: schemathesis generates requests from /openapi.json against the app, and
hypothesis signs JSON bodies full of what breaks databases (NUL, lone surrogates, NaN,
deep nesting).

Whatever arrives, no endpoint answers 5xx, and a refused request stores nothing. WHMCS
bodies are also signed with the right secret, so the parser behind the signature check
gets fuzzed too, not only the check. Both run on the suite's backends (PostgreSQL with
BRIDGE_TEST_DATABASE_URL), which is where NUL and NaN used to fail. The number of examples
is bounded to keep the suite quick (FUZZ_EXAMPLES, default 60 per operation)."""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from bridge.inbound.parse import MAX_DEPTH, MAX_INTEGER_DIGITS
from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import Event
from tests import backends
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


@pytest.fixture(autouse=True)
def _runs_on_the_suite_backend(fuzz_app):
    """The fuzzing must reach the database the suite was pointed at, not a private SQLite."""
    expected = "postgresql" if backends.TEST_DATABASE_URL else "sqlite"
    assert services(fuzz_app).db.engine.dialect.name == expected


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


# Characters that break storage, mixed into otherwise ordinary text.
HOSTILE_CHARACTERS = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "é", "a", " "])
TEXT = st.text(st.one_of(st.characters(exclude_categories=[]), HOSTILE_CHARACTERS), max_size=8)
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | TEXT


def _nested(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


TREES = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)
# Now and then a tree pushed down to around the depth bound.
VALUES = TREES | st.builds(_nested, TREES, st.integers(MAX_DEPTH - 4, MAX_DEPTH + 4))
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refusal_expected(value: Any, depth: int) -> bool:
    """What the bridge promises to refuse, worked out on the body as JSON defines it."""
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(abs(value))) > MAX_INTEGER_DIGITS
    if isinstance(value, str):
        return bool(_SURROGATE.search(value))
    if isinstance(value, list):
        return any(_refusal_expected(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return any(
            "\x00" in key or _SURROGATE.search(key) or _refusal_expected(item, depth + 1) for key, item in value.items()
        )
    return False


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    return value


def _event_params(svc, event_id: int) -> dict[str, Any]:
    with svc.db.session() as session:
        return session.get_one(Event, event_id).payload["params"]


@given(value=VALUES)
@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_signed_body_is_stored_cleaned_or_refused_never_a_500(value, fuzz_app):
    svc = services(fuzz_app)
    # Serialised the way a careless sender would: NaN and Infinity as bare words, lone
    # surrogates as \u escapes (the only way JSON text can carry them).
    raw = json.dumps({"event": "ClientAdd", "params": {"userid": 1042, "x": value}})
    webhook_id, when = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(webhook_id, when, raw),
    }
    received = json.loads(raw)["params"]["x"]  # as any JSON reader sees it (pairs joined)
    before = count(svc, Event)

    response = fuzz_app.test_client().post("/webhooks/whmcs", data=raw.encode(), headers=headers)

    if _refusal_expected(received, depth=2):  # params.x is two levels below the body
        assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:300])
        assert response.get_json()["error"]
        assert count(svc, Event) == before, "a refused body stored something"
    else:
        assert response.status_code == 202, (response.status_code, response.get_data(as_text=True)[:300])
        assert _event_params(svc, response.get_json()["event_id"])["x"] == _without_nul(received)
