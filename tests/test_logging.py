"""Log lines never carry a secret, a full phone number or a full email address."""

from __future__ import annotations

import logging

import responses

from bridge.logging_setup import scrub
from tests.helpers import load_sample


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
    assert "retrying" in text or "failed" in text  # the worker did log about the message
    for leaked in ("5493515551234", "3515551234", "lucia@radioandina.example", "S3cret!plain"):
        assert leaked not in text
