"""/healthz and /readyz."""

from __future__ import annotations

from bridge.scheduled.template_sync import sync_templates
from bridge.services import services
from bridge.wiring import build_relay
from providers.twilio_content import DryRunContent


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_ready_once_a_relay_has_run(app, client):
    first = client.get("/readyz")
    assert first.status_code == 503 and first.get_json()["checks"]["relay"] == "not running (no heartbeat)"
    build_relay(services(app)).run_once()
    answer = client.get("/readyz")
    # Ready: notices without an approved WhatsApp template are reported, not a reason to wait.
    assert answer.status_code == 200, answer.get_json()
    assert "WhatsApp notices without an approved template" in answer.get_json()["checks"]["whatsapp_templates"]
    svc = services(app)
    sync_templates(svc.db, svc.catalog, DryRunContent())
    assert client.get("/readyz").get_json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "queue_depth": 0,
        "queue": "ok",
        "relay": "ok",
        "whatsapp_templates": "ok",
        "debit_group": "ok",  # no card direct debit configured here
    }


def test_a_backed_up_queue_is_not_ready(make_app, post_event):
    app = make_app(READY_MAX_QUEUE_DEPTH=1)
    build_relay(services(app)).run_once()
    client = app.test_client()
    from bridge.inbound.signing import signed_request
    from tests.helpers import SECRET, load_sample

    for _ in range(2):
        body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        client.post("/webhooks/whmcs", data=body, headers=headers)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["queue"] == "backed up: 2 > 1"


def test_redis_down_is_not_ready(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["checks"]["redis"].startswith("error")
