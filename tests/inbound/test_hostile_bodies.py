"""Hostile bodies a signature vouches for: each gets a 4xx with the reason, or is cleaned
where cleaning loses nothing a person needs, on SQLite and PostgreSQL alike. Nothing of a
refused body is stored, and its refusal is one log line, never a traceback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from bridge.inbound.parse import MAX_DEPTH, MAX_INTEGER_DIGITS
from bridge.services import services
from bridge.store.models import Action, ActionTransition, Event
from tests.helpers import SECRET, count

PAGOS360_TOKEN = "t0ken-for-pagos360-notifications-0123456789"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://bridge.hosting.example"
CALLBACK = f"{PUBLIC}/webhooks/twilio/status"


@pytest.fixture
def app(make_app):
    app = make_app(
        PAGOS360_WEBHOOK_TOKEN=PAGOS360_TOKEN,
        TWILIO_ACCOUNT_SID="AC" + "2" * 32,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_WHATSAPP_FROM="+14155238886",
        PUBLIC_BASE_URL=PUBLIC,
    )
    app.testing = False  # as in production: an error inside is a 500 and a logged traceback
    return app


def signed(raw: bytes, webhook_id: str = "msg_hostile") -> tuple[bytes, dict[str, str]]:
    """`raw` exactly as given, signed like the PHP hook file signs its posts."""
    when = datetime.now(UTC)
    return raw, {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(webhook_id, when, raw.decode()),
    }


def client_add(params_json: str) -> bytes:
    """A ClientAdd envelope whose params are the JSON text given, with a real client id."""
    return ('{"event": "ClientAdd", "params": {"userid": 1042, "email": "lucia@radioandina.example", '
            f'"x": {params_json}}}}}').encode()  # fmt: skip


def stored_nothing(svc) -> bool:
    return count(svc, Event) == 0 and count(svc, Action) == 0 and count(svc, ActionTransition) == 0


def assert_refused_in_one_line(response, caplog, status: int, reason: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert reason in response.get_json()["error"], response.get_json()
    rejected = [r for r in caplog.records if r.name == "bridge.webhooks"]
    assert len(rejected) == 1 and str(status) in rejected[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text[:2000]
    assert "Traceback" not in caplog.text


WHMCS_REFUSED = {
    "NaN": (client_add("NaN"), "NaN is not a JSON number"),
    "Infinity": (client_add("Infinity"), "Infinity is not a JSON number"),
    "-Infinity": (client_add("-Infinity"), "-Infinity is not a JSON number"),
    "a float beyond range": (client_add("1e999"), "out of range"),
    "a 5,000-digit integer": (client_add("9" * 5000), "an integer of 5000 digits"),
    "an integer just over the bound": (client_add("-" + "1" * (MAX_INTEGER_DIGITS + 1)), "digits"),
    "nesting beyond the parser": (client_add("[" * 5000 + "]" * 5000), "nested more than"),
    "nesting the parser takes": (client_add("[" * 600 + "]" * 600), "nested more than"),
    # params.x is two levels down: its innermost value is one level past the bound.
    "nesting just over the bound": (client_add('{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)), "nested"),
    "a lone surrogate in a value": (client_add('"Luc\\ud800a"'), "lone surrogate \\ud800"),
    "a lone low surrogate in a list": (client_add('["ok", "\\udc00"]'), "x[1]: lone surrogate"),
    "a lone surrogate in a key": (client_add('{"\\udbff": 1}'), "lone surrogate \\udbff"),
    "a NUL in a key": (client_add('{"first\\u0000name": "a"}'), "holds a NUL character"),
    "a client id longer than its column": (
        b'{"event": "ClientAdd", "params": {"userid": "' + b"7" * 65 + b'"}}',
        "client id is 65 characters long; at most 64",
    ),
}


@pytest.mark.parametrize("case", list(WHMCS_REFUSED))
def test_a_hostile_whmcs_body_is_refused_with_its_reason(case, app, caplog):
    raw, reason = WHMCS_REFUSED[case]
    body, headers = signed(raw)
    with caplog.at_level(logging.INFO):
        response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert_refused_in_one_line(response, caplog, 400, reason)
    assert stored_nothing(services(app))


def test_a_webhook_id_longer_than_its_column_is_refused(app, caplog):
    body, headers = signed(client_add("1"), webhook_id="msg_" + "x" * 252)
    with caplog.at_level(logging.INFO):
        response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert_refused_in_one_line(response, caplog, 400, "event id is 256 characters long; at most 255")
    assert response.get_json()["field"] == "external_id"
    assert stored_nothing(services(app))


def test_nesting_up_to_the_bound_is_accepted(app):
    body, headers = signed(client_add('{"a":' * (MAX_DEPTH - 2) + "1" + "}" * (MAX_DEPTH - 2)))
    assert app.test_client().post("/webhooks/whmcs", data=body, headers=headers).status_code == 202


def test_the_refusal_names_where_in_the_body(app):
    body, headers = signed(client_add('{"deep": {"name": "\\ud800"}}'))
    answer = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()
    assert answer["field"] == "params.x.deep.name"


def test_nul_is_removed_from_values_and_the_event_is_kept(app):
    raw = (
        b'{"event": "ClientAdd", "params": {"userid": 1042, "firstname": "Luc\\u0000\\u0000\\u00eda",'
        b' "lastname": "Fern\\u00e1ndez\\u0000", "notes": ["a\\u0000b", {"c": "\\u0000"}]}}'
    )
    body, headers = signed(raw)
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)

    assert response.status_code == 202, response.get_json()
    with services(app).db.session() as session:
        event = session.get(Event, response.get_json()["event_id"])
        params, search_text = event.payload["params"], event.search_text
    assert (params["firstname"], params["lastname"]) == ("Lucía", "Fernández")
    assert params["notes"] == ["ab", {"c": ""}]
    assert " lucía " in search_text and " fernández " in search_text


def test_a_hostile_pagos360_notification_is_refused_and_nul_cleaned(app, caplog):
    client = app.test_client()
    url = f"/webhooks/pagos360/{PAGOS360_TOKEN}"
    headers = {"content-type": "application/json"}
    for raw, reason in (
        (b'{"entity_name": "card_adhesion", "entity_id": 1, "type": "signed", "payload": {"a": NaN}}', "NaN"),
        (b'{"entity_name": "card_adhesion", "entity_id": 1, "type": "signed", "payload": ' + b"[" * 3000, "nested"),
        (b'{"entity_name": "card_adhesion", "entity_id": 1, "type": "signed", "payload": {"a": "\\udfff"}}', "surr"),
    ):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = client.post(url, data=raw, headers=headers)
        assert_refused_in_one_line(response, caplog, 400, reason)
    assert stored_nothing(services(app))

    long_reference = b'"payload": {"external_reference": "whmcs-client-' + b"1" * 65 + b'"}'
    raw = b'{"entity_name": "card_adhesion", "entity_id": 2, "type": "signed", ' + long_reference + b"}"
    assert client.post(url, data=raw, headers=headers).status_code == 400
    assert stored_nothing(services(app))

    raw = b'{"entity_name": "card_adhesion", "entity_id": 3, "type": "signed", "payload": {"note": "a\\u0000b"}}'
    response = client.post(url, data=raw, headers=headers)
    assert response.status_code == 200, response.get_json()
    with services(app).db.session() as session:
        assert session.get(Event, response.get_json()["event_id"]).payload["payload"] == {"note": "ab"}


def _twilio(app, params: dict[str, str]):
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(CALLBACK, params)
    return app.test_client().post("/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": signature})


def test_a_twilio_receipt_with_nul_is_cleaned_and_an_overlong_sid_refused(app, caplog):
    response = _twilio(app, {"MessageSid": "SM\x00abc", "MessageStatus": "delivered", "To": "whatsapp:+54\x00"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    with services(app).db.session() as session:
        [event] = session.query(Event).all()
        assert (event.external_id, event.payload["params"]["To"]) == ("SMabc:delivered", "whatsapp:+54")

    with caplog.at_level(logging.INFO):
        response = _twilio(app, {"MessageSid": "SM" + "f" * 300, "MessageStatus": "delivered"})
    assert_refused_in_one_line(response, caplog, 400, "event id is 312 characters long")
    assert count(services(app), Event) == 1
