"""Log lines never carry a secret, a full phone number or a full email address."""

from __future__ import annotations

import logging

import pytest
import responses

from bridge.ops.logging_setup import scrub
from tests.helpers import load_sample

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")


def test_scrub_masks_phones_emails_and_secrets():
    line = (
        "The 'To' number whatsapp:+5491144445555 is not valid; client lucia@radioandina.example; "
        "secret whsec_dGVzdC1zZWNyZXQ= and Bearer p360-key, password=hunter2&x=1, phone 0351 15 555-1234"
    )
    cleaned = scrub(line)
    for leaked in ("5491144445555", "lucia@", "dGVzdC1zZWNyZXQ", "p360-key", "hunter2"):
        assert leaked not in cleaned
    assert "+54*********55" in cleaned and "l***@radioandina.example" in cleaned


def test_what_the_bridge_logs_while_working_is_scrubbed(make_app, post_event, run_worker, caplog):
    app = make_app(
        TWILIO_ACCOUNT_SID="AC" + "4" * 32,
        TWILIO_AUTH_TOKEN="t",
        TWILIO_WHATSAPP_FROM="+14155238886",
        TWILIO_API_BASE="https://twilio.test",
    )
    error = load_sample("twilio", "error.21211") | {"message": "The 'To' number whatsapp:+5493515551234 is not valid"}
    with caplog.at_level(logging.INFO), responses.RequestsMock() as edge:
        edge.post(f"https://twilio.test/2010-04-01/Accounts/{'AC' + '4' * 32}/Messages.json", json=error, status=400)
        post_event("ClientAdd")
        run_worker(app)
    text = caplog.text
    assert "(whatsapp): permanent_error: Twilio refused the message" in text  # the worker did log it
    for leaked in ("5493515551234", "3515551234", "lucia@radioandina.example", "S3cret!plain"):
        assert leaked not in text


def test_json_lines_carry_the_request_and_attempt_fields(post_event, run_worker, make_app, caplog):
    import json

    from bridge.ops.logging_setup import JsonFormatter

    app = make_app(LOG_FORMAT="json")
    with caplog.at_level(logging.INFO):
        event_id = post_event("ClientAdd").get_json()["event_id"]
        run_worker(app)
    formatter = JsonFormatter()
    lines = [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name in ("bridge.requests", "bridge.work.deliverer")
    ]
    [request_line] = [line for line in lines if line["logger"] == "bridge.requests"]
    assert (
        request_line["route"] == "/webhooks/whmcs"
        and request_line["status"] == 202
        and request_line["method"] == "POST"
    )
    attempts = [line for line in lines if line["logger"] == "bridge.work.deliverer"]
    assert {line["channel"] for line in attempts} == {"plan", "whatsapp", "email"}
    assert all(line["event_id"] == event_id and line["outcome"] in ("sent", "dry_run") for line in attempts)
    assert all("duration_ms" in line and line["ts"].endswith("+00:00") for line in attempts)


def test_health_checks_are_not_logged_as_requests(client, caplog):
    with caplog.at_level(logging.INFO):
        client.get("/healthz")
        client.get("/no-such-page")
    routes = [getattr(r, "route", None) for r in caplog.records if r.name == "bridge.requests"]
    assert routes == ["(no route)"]


PAGOS360_TOKEN = "pagos360-url-secret-" + "k" * 12
PHONE = "+5493515559876"


def _leaks(text: str) -> list[str]:
    """What must never be in a log line: the token, the phone (any way written), a query."""
    return [s for s in (PAGOS360_TOKEN, "kkkkkkkk", "5559876", "?q=", "q=%2B", "q=+") if s in text]


def test_request_logs_name_the_route_never_the_path_or_query(make_app, caplog):
    app = make_app(PAGOS360_WEBHOOK_TOKEN=PAGOS360_TOKEN)

    @app.get("/test-only/fails/<secret>")
    def _fails(secret: str) -> str:  # an unexpected error in a view whose URL holds a secret
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as in production, not raise into the test
    client = app.test_client()
    with caplog.at_level(logging.INFO):
        assert client.get(f"/webhooks/pagos360/{PAGOS360_TOKEN}").status_code == 405
        assert client.post(f"/webhooks/pagos360/{PAGOS360_TOKEN}", json={"not": "a notification"}).status_code == 400
        assert client.post(f"/webhooks/pagos360/{PAGOS360_TOKEN}x", json={}).status_code == 404
        assert client.get(f"/webhooks/{PHONE}").status_code == 404
        assert client.get(f"/no-such-page/{PHONE}?q={PHONE}").status_code == 404
        assert client.get(f"/log/?q={PHONE}").status_code == 302  # to the login, with the search
        assert client.get(f"/api/actions?q={PHONE}").status_code == 401
        assert client.get(f"/test-only/fails/{PAGOS360_TOKEN}").status_code == 500
    assert _leaks(caplog.text) == [], caplog.text
    routes = [r.route for r in caplog.records if r.name == "bridge.requests"]
    assert routes == [
        "/webhooks/pagos360/<token>",
        "/webhooks/pagos360/<token>",
        "/webhooks/pagos360/<token>",
        "(no route)",
        "(no route)",
        "/log/",
        "/api/actions",
        "/test-only/fails/<secret>",
    ]
    assert "rejected GET /webhooks/pagos360/<token> from" in caplog.text  # the 405, by its route
    assert "Exception on /test-only/fails/<secret> [GET]" in caplog.text
