"""POST /webhooks/whmcs: the good path, duplicates, and every kind of bad input."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from bridge.inbound.signing import signed_request
from bridge.inbound.whmcs import KNOWN_EVENTS
from bridge.store.models import Action, ActionTransition, Event
from bridge.store.queue import job_id_for
from tests.helpers import SECRET, actions_of, count, load_sample, plan_of, transitions_of


def stored_nothing(svc) -> bool:
    return count(svc, Event) == 0 and count(svc, Action) == 0 and count(svc, ActionTransition) == 0


def test_client_add_is_recorded_with_its_planning_queued(post_event, svc):
    response = post_event("ClientAdd")

    assert response.status_code == 202
    event_id = response.get_json()["event_id"]
    [plan] = actions_of(svc, event_id, with_plan=True)
    assert (plan.channel, plan.state) == ("plan", "queued")
    # One job per action, keyed by the action's id, carrying only the id.
    assert svc.queue.queue.get_job_ids() == [job_id_for(plan.id)]
    assert svc.queue.queue.fetch_job(job_id_for(plan.id)).args == (plan.id,)


def test_the_worker_plans_a_whatsapp_and_an_email_welcome(post_event, svc, run_worker):
    event_id = post_event("ClientAdd").get_json()["event_id"]
    assert run_worker() == 3  # the planning, then the two messages it planned

    whatsapp, email = actions_of(svc, event_id)
    assert (whatsapp.channel, whatsapp.recipient, whatsapp.state) == ("whatsapp", "+5493515551234", "sent")
    assert (email.channel, email.recipient, email.state) == ("email", "lucia@radioandina.example", "sent")
    assert "Lucía" in whatsapp.content["body"]
    assert "https://clientes.example.com/clientarea.php" in whatsapp.content["body"]
    assert email.content["subject"] == "Bienvenido/a a Tu Hosting"
    plan = plan_of(svc, event_id)
    assert plan.state == "sent"
    assert transitions_of(svc, plan.id)[-1][2] == "planned 2 actions from the event alone (WHMCS API not configured)"


def test_secrets_are_dropped_before_storage(post_event, svc):
    params = load_sample("whmcs_hooks", "ClientAdd")
    params["nested"] = {"serverpassword": "root-pw", "note": "card 4111 1111 1111 1111"}
    response = post_event("ClientAdd", params)

    with svc.db.session() as session:
        event = session.get(Event, response.get_json()["event_id"])
        stored = json.dumps(event.payload)
    assert "S3cret!plain" not in stored and '"password"' not in stored
    assert "root-pw" not in stored and "4111" not in stored
    assert event.payload["params"]["nested"]["note"] == "card [redacted]"
    assert event.client_id == "1042"


def test_a_second_secret_is_accepted_during_rotation(make_app):
    new = "whsec_" + base64.b64encode(b"the-new-secret-after-rotation!").decode()
    client = make_app(WHMCS_WEBHOOK_SECRET=f"{new} {SECRET}").test_client()
    for secret in (SECRET, new):
        body, headers = signed_request(secret, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        assert client.post("/webhooks/whmcs", data=body, headers=headers).status_code == 202


def test_without_the_whmcs_api_an_invoice_event_records_why_nobody_was_told(post_event, svc, run_worker):
    event_id = post_event("InvoicePaid").get_json()["event_id"]  # carries only the invoice id
    run_worker()
    # (and the drop of its waiting reminders, hooks/reminders.py)
    actions = [a for a in actions_of(svc, event_id) if a.channel != "scheduled_notice"]
    assert [(a.channel, a.state) for a in actions] == [("whatsapp", "skipped"), ("email", "skipped")]
    assert actions[0].last_error == (
        "no client to notify: the event names no client, and the WHMCS API is not configured (WHMCS_API_URL)"
    )


def _signed(event="ClientAdd", **kw):
    return signed_request(SECRET, event, load_sample("whmcs_hooks", "ClientAdd"), **kw)


def _tampered():
    body, headers = _signed()
    return body.replace(b"Luc", b"Lxc"), headers


def _wrong_secret():
    other = "whsec_" + base64.b64encode(b"somebody-else-entirely-123456").decode()
    return signed_request(other, "ClientAdd", {"userid": 1})


def _without(header):
    body, headers = _signed()
    del headers[header]
    return body, headers


def _garbled_signature():
    body, headers = _signed()
    headers["webhook-signature"] = "not-a-signature"
    return body, headers


def _at(delta):
    return _signed(timestamp=datetime.now(UTC) + delta)


def _raw_signed(raw: bytes):
    """Validly signed, but the body is whatever `raw` is."""
    _, headers = _signed()
    from standardwebhooks.webhooks import Webhook

    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    headers["webhook-signature"] = Webhook(SECRET).sign(headers["webhook-id"], when, raw.decode())
    return raw, headers


BAD_REQUESTS = {
    "tampered body": (_tampered, 401, "signature"),
    "wrong secret": (_wrong_secret, 401, "No matching signature"),
    "no signature header": (lambda: _without("webhook-signature"), 401, "signature"),
    "no id header": (lambda: _without("webhook-id"), 401, "signature"),
    "no timestamp header": (lambda: _without("webhook-timestamp"), 401, "signature"),
    "garbled signature": (_garbled_signature, 401, "malformed"),
    "stale timestamp": (lambda: _at(-timedelta(minutes=6)), 401, "too old"),
    "future timestamp": (lambda: _at(timedelta(minutes=6)), 401, "too new"),
    "malformed JSON": (lambda: _raw_signed(b'{"event": "ClientAdd", "params": {'), 400, "not valid JSON"),
    "JSON array": (lambda: _raw_signed(b"[1, 2]"), 400, "JSON object"),
    "no params": (lambda: _raw_signed(b'{"event": "ClientAdd"}'), 400, "envelope"),
    "params not an object": (lambda: _raw_signed(b'{"event": "ClientAdd", "params": "x"}'), 400, "envelope"),
    "unknown event": (lambda: _raw_signed(b'{"event": "ClientDelete", "params": {}}'), 422, "unknown event"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_refused_and_store_nothing(case, client, svc, caplog):
    build, status, message = BAD_REQUESTS[case]
    body, headers = build()
    with caplog.at_level(logging.WARNING, logger="bridge.webhooks"):
        response = client.post("/webhooks/whmcs", data=body, headers=headers)

    assert response.status_code == status, response.get_json()
    assert message in response.get_json()["error"]
    assert stored_nothing(svc)
    assert svc.queue.depth() == 0
    rejected = [r for r in caplog.records if r.name == "bridge.webhooks"]
    assert len(rejected) == 1 and str(status) in rejected[0].getMessage()


def test_unknown_event_lists_the_known_ones(client):
    body, headers = _raw_signed(b'{"event": "Nope", "params": {}}')
    answer = client.post("/webhooks/whmcs", data=body, headers=headers).get_json()
    assert answer["known_events"] == list(KNOWN_EVENTS)


def test_healthz(client):
    assert client.get("/healthz").status_code == 200


def test_redis_down_still_accepts_and_leaves_actions_queued_for_the_relay(make_app):
    from bridge.services import services

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    body, headers = _signed()
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)

    assert response.status_code == 202
    actions = actions_of(services(app), response.get_json()["event_id"], with_plan=True)
    assert [(a.channel, a.state) for a in actions] == [("plan", "queued")]


def test_twenty_concurrent_repeats_make_one_event(app, svc):
    from concurrent.futures import ThreadPoolExecutor

    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"), webhook_id="msg_race")

    def post(_):
        response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))

    assert {status for status, _ in answers} == {202}
    assert len({answer["event_id"] for _, answer in answers}) == 1
    assert count(svc, Event) == 1 and count(svc, Action) == 1
    assert svc.queue.depth() == 1


def test_an_internal_error_answers_500_without_a_stack_trace(make_app, tmp_path):
    """A database without its tables: the request fails inside, and says nothing of why."""
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    app.testing = False  # as in production: exceptions are handled, not raised into the test
    body, headers = _signed()
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "sqlite" not in text.lower() and "events" not in text
    assert response.get_json() == {"error": response.get_json()["error"]} and "internal" in text.lower()


def test_module_events_name_their_client(post_event, svc):
    """AfterModule* hooks nest their fields under "params": the client is found there."""
    response = post_event("AfterModuleSuspend")
    with svc.db.session() as session:
        assert session.get(Event, response.get_json()["event_id"]).client_id == "1042"
