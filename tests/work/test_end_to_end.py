"""End to end on real components: a signed POST, the queue, a worker, Twilio's own API
description (Prism serving Twilio's OpenAPI file) and a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from tests.helpers import SECRET, actions_of, attempts_of, load_sample
from tests.support.prism import TEST_ACCOUNT_SID, PrismTwilio
from tests.support.smtp_server import smtp_server

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismTwilio]:
    with PrismTwilio() as server:
        yield server


def test_client_add_reaches_twilio_and_the_mailbox(prism, make_app, run_worker):
    with smtp_server() as (inbox, port):
        app = make_app(
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN="prism-accepts-any-token",
            TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
            TWILIO_API_BASE=prism.base_url,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=port,
            SMTP_STARTTLS=False,
        )
        svc = services(app)
        body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
        assert response.status_code == 202
        assert run_worker(app) == 3  # planning, WhatsApp, email

    whatsapp, email = actions_of(svc, response.get_json()["event_id"])
    # Prism answers 201 only to a request that fits Twilio's description of the API;
    # anything else (a missing To, a malformed sid) gets a 422 and the action fails.
    assert whatsapp.state == State.SENT, whatsapp.last_error
    assert whatsapp.provider_ref.startswith("SM") and not whatsapp.dry_run
    [attempt] = attempts_of(svc, whatsapp.id)
    assert (attempt.outcome, attempt.http_status) == ("sent", 201)
    assert f"/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json" in prism.log_text()

    assert email.state == State.SENT
    [message] = inbox.messages
    assert message["To"] == "lucia@radioandina.example" and "Lucía" in message.get_content()
    assert [a.outcome for a in attempts_of(svc, email.id)] == ["sent"]


def test_a_request_twilio_would_refuse_fails_permanently(prism, make_app, run_worker):
    """A messaging-service sid of the wrong shape breaks the spec: Prism answers 422."""
    app = make_app(
        TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN="x",
        TWILIO_MESSAGING_SERVICE_SID="MG" + "0" * 32,
        TWILIO_API_BASE=prism.base_url,
    )
    svc = services(app)
    svc.providers["whatsapp"].messaging_service_sid = "MG-not-a-sid"  # what a bad deploy would send
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker(app)

    whatsapp = actions_of(svc, event_id)[0]
    assert whatsapp.state == State.FAILED and attempts_of(svc, whatsapp.id)[0].http_status == 422
    assert whatsapp.last_error == "Twilio refused the message: Unable to create record [422]"
    assert whatsapp.attempts == 1  # a 4xx is not retried
