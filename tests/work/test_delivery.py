"""A worker carrying out Actions: outcomes, attempts and state history, per provider answer.

Twilio's host is outside this machine, so it is faked at the HTTP edge with `responses`;
the SMTP server is real (aiosmtpd in this process).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from bridge.core.states import State
from tests.helpers import actions_of, attempts_of, load_sample, transitions_of
from tests.support.smtp_server import smtp_server

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")

SID = "AC" + "0" * 32
TWILIO = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": "test-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_API_BASE": "https://twilio.test",
}
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
CREATED = {"sid": "SM" + "a" * 32, "status": "queued", "account_sid": SID}


@pytest.fixture
def twilio_app(make_app):
    return make_app(**TWILIO)


def _post_and_work(app, run_worker, event="ClientAdd"):
    from bridge.inbound.signing import signed_request
    from tests.helpers import SECRET

    body, headers = signed_request(SECRET, event, load_sample("whmcs_hooks", event))
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202
    run_worker()
    return response.get_json()["event_id"]


def _whatsapp(svc, event_id):
    return next(a for a in actions_of(svc, event_id) if a.channel == "whatsapp")


@responses.activate
def test_whatsapp_sent_through_twilio_records_the_attempt(twilio_app, run_worker):
    from bridge.services import services

    responses.post(MESSAGES_URL, json=CREATED, status=201)
    svc = services(twilio_app)
    event_id = _post_and_work(twilio_app, run_worker)

    action = _whatsapp(svc, event_id)
    assert action.state == State.SENT and action.provider_ref == CREATED["sid"] and not action.dry_run
    [attempt] = attempts_of(svc, action.id)
    assert (attempt.outcome, attempt.http_status, attempt.provider_ref) == ("sent", 201, CREATED["sid"])
    assert attempt.duration_ms is not None and attempt.duration_ms >= 0
    sent = parse_qs(responses.calls[0].request.body)
    assert sent["To"] == ["whatsapp:+5493515551234"] and sent["From"] == ["whatsapp:+14155238886"]
    assert "Lucía" in sent["Body"][0]
    assert [t[1] for t in transitions_of(svc, action.id)] == ["queued", "sending", "sent"]


@responses.activate
def test_approved_template_goes_by_content_sid(make_app, run_worker, tmp_path):
    import shutil

    from bridge.core.settings import DEFAULT_CONFIG_DIR
    from bridge.services import services

    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    with (config / "routing.toml").open("a") as handle:
        handle.write('\n[whatsapp_templates.ClientAdd.es]\ncontent_sid = "HX' + "b" * 32 + '"\n')
        handle.write('variables = ["firstname", "company_name"]\n')
    app = make_app(**TWILIO, BRIDGE_CONFIG_DIR=str(config))
    responses.post(MESSAGES_URL, json=CREATED, status=201)
    _post_and_work(app, run_worker)

    sent = parse_qs(responses.calls[0].request.body)
    assert sent["ContentSid"] == ["HX" + "b" * 32]
    assert json.loads(sent["ContentVariables"][0]) == {"1": "Lucía", "2": "Tu Hosting"}
    assert "Body" not in sent
    assert services(app).db is not None


@responses.activate
def test_invalid_number_21211_fails_at_once(twilio_app, run_worker):
    from bridge.services import services

    error = load_sample("twilio", "error.21211")
    responses.post(MESSAGES_URL, json=error, status=400)
    svc = services(twilio_app)
    action = _whatsapp(svc, _post_and_work(twilio_app, run_worker))

    assert action.state == State.FAILED and action.attempts == 1
    assert "21211" in action.last_error and action.next_attempt_at is None
    [attempt] = attempts_of(svc, action.id)
    assert (attempt.outcome, attempt.http_status) == ("permanent_error", 400)
    assert "permanent error" in transitions_of(svc, action.id)[-1][2]


@pytest.mark.parametrize(
    "answer",
    [
        {"json": {"code": 20500, "message": "Internal Server Error", "status": 500}, "status": 500},
        {"body": requests.ConnectTimeout("connect timed out")},
        {"body": requests.ConnectionError("connection refused")},
    ],
    ids=["500", "timeout", "refused"],
)
@responses.activate
def test_transient_errors_are_retried_later(answer, twilio_app, run_worker):
    from bridge.services import services

    responses.post(MESSAGES_URL, **answer)
    svc = services(twilio_app)
    action = _whatsapp(svc, _post_and_work(twilio_app, run_worker))

    assert action.state == State.RETRYING and action.attempts == 1
    assert action.next_attempt_at is not None
    [attempt] = attempts_of(svc, action.id)
    assert attempt.outcome == "transient_error"


@pytest.mark.parametrize("code", [20429, 63018])
@responses.activate
def test_being_told_to_slow_down_pauses_the_sender_and_costs_no_retry(code, twilio_app, run_worker):
    from bridge.services import services
    from bridge.work.ratelimit import RateLimiter

    responses.post(MESSAGES_URL, json={"code": code, "message": "Too Many Requests", "status": 429}, status=429)
    svc = services(twilio_app)
    action = _whatsapp(svc, _post_and_work(twilio_app, run_worker))

    assert action.state == State.RETRYING and action.attempts == 0  # not counted against the retries
    [attempt] = attempts_of(svc, action.id)
    assert attempt.outcome == "throttled" and attempt.http_status == 429
    assert "paused 5.0s" in transitions_of(svc, action.id)[-1][2]
    # Every worker now waits for that sender: the next slot is about THROTTLE_PAUSE_SECONDS away.
    slot = RateLimiter(svc.redis).reserve("twilio:whatsapp:+14155238886", per_second=10, max_wait=0)
    assert not slot.reserved and 2 < slot.wait <= 5


def test_a_busy_sender_puts_actions_back_for_their_slot(make_app, run_worker):
    from bridge.services import services
    from bridge.work.ratelimit import RateLimiter

    app = make_app(**TWILIO, RATE_LIMIT_MAX_WAIT_SECONDS=0.5)
    svc = services(app)
    RateLimiter(svc.redis).penalize("twilio:whatsapp:+14155238886", 30)  # the sender is booked for 30 s
    with responses.RequestsMock() as edge:  # nothing may reach Twilio
        event_id = _post_and_work(app, run_worker)
        assert len(edge.calls) == 0
    action = _whatsapp(svc, event_id)
    assert action.state == State.RETRYING and action.attempts == 0 and attempts_of(svc, action.id) == []
    assert "next send slot in" in transitions_of(svc, action.id)[-1][2]


@responses.activate
def test_retries_stop_after_the_configured_maximum(make_app, run_worker):
    from bridge.services import services
    from bridge.wiring import build_relay

    app = make_app(**TWILIO, RETRY_MAX_ATTEMPTS=3, RETRY_BASE_SECONDS=0.01, RETRY_MAX_SECONDS=0.01)
    svc = services(app)
    responses.post(MESSAGES_URL, json={"code": 20500, "message": "boom", "status": 500}, status=500)
    event_id = _post_and_work(app, run_worker)
    relay = build_relay(svc)
    for _ in range(5):
        relay.run_once(now=_later())
        run_worker()

    action = _whatsapp(svc, event_id)
    assert action.state == State.FAILED and action.attempts == 3
    assert "gave up after 3 attempts" in transitions_of(svc, action.id)[-1][2]
    assert [a.outcome for a in attempts_of(svc, action.id)] == ["transient_error"] * 3


@responses.activate
def test_a_retry_that_succeeds_ends_sent(twilio_app, run_worker):
    from bridge.services import services
    from bridge.wiring import build_relay

    svc = services(twilio_app)
    responses.post(MESSAGES_URL, json={"code": 20500, "message": "boom", "status": 500}, status=500)
    responses.post(MESSAGES_URL, json=CREATED, status=201)
    event_id = _post_and_work(twilio_app, run_worker)
    build_relay(svc).run_once(now=_later())
    run_worker()

    action = _whatsapp(svc, event_id)
    assert action.state == State.SENT and action.attempts == 2
    assert [a.outcome for a in attempts_of(svc, action.id)] == ["transient_error", "sent"]


def test_dry_run_records_what_would_have_been_sent(app, run_worker, svc):
    event_id = _post_and_work(app, run_worker)
    for action in actions_of(svc, event_id):
        assert action.state == State.SENT and action.dry_run
        assert action.provider_ref.startswith("dry-run-")
        [attempt] = attempts_of(svc, action.id)
        assert attempt.outcome == "dry_run"
        assert "dry run" in transitions_of(svc, action.id)[-1][2]


def test_email_reaches_a_real_smtp_server(make_app, run_worker):
    from bridge.services import services

    with smtp_server() as (inbox, port):
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False, MAIL_FROM="avisos@hosting.example")
        svc = services(app)
        event_id = _post_and_work(app, run_worker)

    [message] = inbox.messages
    assert message["To"] == "lucia@radioandina.example" and message["From"] == "avisos@hosting.example"
    assert message["Subject"] == "Bienvenido/a a Tu Hosting"
    assert "Hola Lucía" in message.get_content()
    email_action = next(a for a in actions_of(svc, event_id) if a.channel == "email")
    assert email_action.state == State.SENT and not email_action.dry_run
    assert message["Message-ID"].strip().strip("<>") == email_action.provider_ref


@pytest.mark.parametrize(
    ("reply", "state"), [("451 4.3.0 try again later", "retrying"), ("550 5.1.1 no such user", "failed")]
)
def test_smtp_refusals_are_transient_or_permanent_by_code(reply, state, make_app, run_worker):
    from bridge.services import services

    with smtp_server() as (inbox, port):
        inbox.refuse_with = reply
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
        event_id = _post_and_work(app, run_worker)
    email_action = next(a for a in actions_of(services(app), event_id) if a.channel == "email")
    assert email_action.state == state and reply[:3] in email_action.last_error


def test_smtp_server_unreachable_is_transient(make_app, run_worker):
    from bridge.services import services
    from tests.support.prism import free_port

    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=False)
    event_id = _post_and_work(app, run_worker)
    email_action = next(a for a in actions_of(services(app), event_id) if a.channel == "email")
    assert email_action.state == State.RETRYING and "unreachable" in email_action.last_error


def test_a_job_for_a_finished_action_does_nothing(app, run_worker, svc):
    event_id = _post_and_work(app, run_worker)
    action = actions_of(svc, event_id)[0]
    svc.queue.enqueue(action.id)  # a duplicate job, as after a relay re-enqueue
    run_worker()
    assert len(attempts_of(svc, action.id)) == 1


def _later():
    from datetime import timedelta

    from bridge.store.models import utcnow

    return utcnow() + timedelta(hours=2)


@pytest.mark.parametrize(
    "recipient",
    ["a@radioandina.example, b@evil.example", "a@radioandina.example;b@evil.example", "a@x.example\nb@evil.example"],
)
def test_the_smtp_provider_refuses_a_recipient_with_several_addresses(recipient):
    """The planners skip such recipients; an Action stored before that check (or replayed)
    still reaches no one: a permanent error before any connection."""
    from providers.base import ProviderError
    from providers.smtp_email import SmtpEmail

    with smtp_server() as (inbox, port):
        provider = SmtpEmail(
            host="127.0.0.1", port=port, username=None, password=None, starttls=False, mail_from="a@hosting.example"
        )
        with pytest.raises(ProviderError) as refused:
            provider.send(recipient, {"subject": "s", "body": "b"})
        provider.send(" lucia@radioandina.example ", {"subject": "s", "body": "b"})  # one address goes
    assert refused.value.permanent and "not one email address" in str(refused.value)
    assert [m["To"] for m in inbox.messages] == ["lucia@radioandina.example"]
