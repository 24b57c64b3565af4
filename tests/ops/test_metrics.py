"""Prometheus metrics: what the web, worker processes and the relay count, summed at /metrics.

Workers run as real separate processes (the bridge's worker command, and plain `rq worker`
with RQ's forking worker class), gunicorn with deploy/gunicorn.conf.py, and the
metrics-server command; the scrape is parsed with prometheus_client's own parser and
every value is checked exactly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

from bridge import metrics
from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.metrics.slots import SlotIdentity, sweep
from bridge.services import services
from bridge.store.models import Action, Attempt, utcnow
from bridge.store.transitions import move
from bridge.wiring import build_relay
from bridge.work.ratelimit import RateLimiter
from tests.helpers import REPO, SECRET, count, kill_tree, load_sample, plan_of
from tests.support.prism import free_port

# Free-form messages to the sample client go: they wrote within the last 24 hours.
pytestmark = pytest.mark.usefixtures("the_customer_wrote")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
TOKEN = "metrics-token-0123456789"
TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "test-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_API_BASE": "https://twilio.test",
}
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{TWILIO['TWILIO_ACCOUNT_SID']}/Messages.json"


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample's value, or None when the scrape does not have it."""
    return samples.get((name, tuple(sorted(labels.items()))))


def scrape(client: Any, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.get_data(as_text=True))


def post(client: Any, event: str = "ClientAdd", webhook_id: str | None = None) -> Any:
    body, headers = signed_request(SECRET, event, load_sample("whmcs_hooks", event), webhook_id=webhook_id)
    return client.post("/webhooks/whmcs", data=body, headers=headers)


def subprocess_env(config: dict[str, Any], **extra: str) -> dict[str, str]:
    return {**os.environ, **{k: str(v) for k, v in config.items()}, **extra}


def run_burst(command: list[str], env: dict[str, str]) -> None:
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr


def slots_written(directory: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow  # left out of `make check`: it starts a worker process
def test_web_and_a_separate_worker_process_are_summed(make_app, base_config):
    app = make_app()
    client = app.test_client()
    svc = services(app)
    assert post(client, webhook_id="msg_first").status_code == 202
    assert post(client, webhook_id="msg_first").status_code == 202  # a resend: counted, nothing planned
    assert post(client).status_code == 202
    assert post(client, "InvoicePaid").status_code == 202

    run_burst([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], subprocess_env(base_config))
    samples = scrape(client)

    # Counted by the web (this process).
    assert value(samples, "bridge_events_received_total", source="whmcs", type="ClientAdd") == 3
    assert value(samples, "bridge_events_received_total", source="whmcs", type="InvoicePaid") == 1
    assert value(samples, "bridge_events_duplicate_total", source="whmcs") == 1
    # Counted by the worker process: this one ran no job.
    for channel, attempts in (("plan", 3), ("whatsapp", 2), ("email", 2)):
        assert value(samples, "bridge_attempt_duration_seconds_count", channel=channel) == attempts
        assert value(samples, "bridge_attempt_duration_seconds_bucket", channel=channel, le="+Inf") == attempts
    assert value(samples, "bridge_attempts_total", channel="plan", outcome="sent") == 3
    assert value(samples, "bridge_attempts_total", channel="whatsapp", outcome="dry_run") == 2
    assert value(samples, "bridge_attempts_total", channel="email", outcome="dry_run") == 2
    assert value(samples, "bridge_actions_finished_total", channel="plan", state="sent") == 3
    assert value(samples, "bridge_actions_finished_total", channel="whatsapp", state="sent") == 2
    assert value(samples, "bridge_actions_finished_total", channel="email", state="sent") == 2
    # InvoicePaid without WHMCS's API: the planning records why nobody was told.
    skipped = {
        channel: count(svc, Action, Action.state == State.SKIPPED, Action.channel == channel)
        for channel in ("whatsapp", "email", "none")
    }
    assert sum(skipped.values()) >= 1
    for channel, number in skipped.items():
        assert value(samples, "bridge_actions_finished_total", channel=channel, state="skipped") == (number or None)
    # Nothing is waiting any more.
    for state in ("pending", "queued", "sending", "retrying", "failed"):
        for channel in ("plan", "whatsapp", "email"):
            assert value(samples, "bridge_actions", state=state, channel=channel) == 0
    assert value(samples, "bridge_queue_depth") == 0
    assert len(slots_written(metrics.directory())) >= 2  # this process and the worker's


@pytest.mark.slow  # left out of `make check`: it starts forking worker processes
def test_forking_rq_workers_share_one_slot_and_their_totals_add_up(make_app, base_config):
    """Plain `rq worker` with RQ's forking Worker (as the Procfile runs it): every job is a
    new work-horse process, which takes over the previous one's slot and adds to it."""
    app = make_app()
    client = app.test_client()
    assert post(client).status_code == 202
    rq = [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--worker-class", "rq.worker.Worker"]
    command = [*rq, "--url", app.config["BRIDGE_REDIS_URL"], services(app).settings.queue_name]
    run_burst(command, subprocess_env(base_config))
    samples = scrape(client)

    assert value(samples, "bridge_attempts_total", channel="plan", outcome="sent") == 1
    assert value(samples, "bridge_attempts_total", channel="whatsapp", outcome="dry_run") == 1
    assert value(samples, "bridge_attempts_total", channel="email", outcome="dry_run") == 1
    assert value(samples, "bridge_attempt_duration_seconds_count", channel="email") == 1
    assert value(samples, "bridge_actions_finished_total", channel="email", state="sent") == 1
    # Three work-horses, one after another: one slot between them, besides this process's.
    assert len(slots_written(metrics.directory())) == 2


def _signed_body(body: bytes) -> dict[str, str]:
    msg_id, when = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, when, body.decode()),
    }


def test_rejected_requests_are_counted_by_route_and_reason(make_app):
    app = make_app(PAGOS360_WEBHOOK_TOKEN="p" * 24, MAX_BODY_BYTES=2048)
    client = app.test_client()
    good_body, good_headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    unknown_body, unknown_headers = signed_request(SECRET, "NoSuchHook", {})
    whmcs = "/webhooks/whmcs"
    answers = [
        client.post(whmcs, data=good_body, headers={**good_headers, "content-type": "text/plain"}).status_code,
        client.post(whmcs, data=good_body, headers={**good_headers, "webhook-signature": "v1,AAAA"}).status_code,
        client.post(whmcs, data=good_body, headers={**good_headers, "webhook-id": "msg_other"}).status_code,
        client.post(whmcs, data=b"{not json", headers=_signed_body(b"{not json")).status_code,
        client.post(whmcs, data=b'{"event": "ClientAdd"}', headers=_signed_body(b'{"event": "ClientAdd"}')).status_code,
        client.post(whmcs, data=unknown_body, headers=unknown_headers).status_code,
        client.post(whmcs, data=b"x" * 4096, headers={"content-type": "application/json"}).status_code,
        client.post("/webhooks/pagos360/wrong-token-wrong-token!", json={}).status_code,
        client.get("/webhooks/nothing-here").status_code,
    ]
    assert answers == [415, 401, 401, 400, 400, 422, 413, 404, 404]

    samples = scrape(client)
    expected = {
        ("/webhooks/whmcs", "wrong_content_type"): 1,
        ("/webhooks/whmcs", "bad_signature"): 2,
        ("/webhooks/whmcs", "bad_json"): 1,
        ("/webhooks/whmcs", "schema"): 1,
        ("/webhooks/whmcs", "unknown_event"): 1,
        ("/webhooks/whmcs", "too_large"): 1,
        ("/webhooks/pagos360/<token>", "bad_token"): 1,
        ("(no route)", "not_found"): 1,
    }
    found = {
        (dict(labels)["route"], dict(labels)["reason"]): number
        for (name, labels), number in samples.items()
        if name == "bridge_requests_rejected_total"
    }
    assert found == expected
    assert value(samples, "bridge_events_received_total", source="whmcs", type="ClientAdd") is None


def test_the_token_guards_metrics_and_scrapes_stay_out_of_the_request_log(make_app, caplog):
    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="bridge.requests"):
        refused = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert value(samples, "bridge_queue_depth") == 0
    assert [r for r in caplog.records if r.name == "bridge.requests"] == []


def test_gauges_count_what_waits_now(make_app, base_config):
    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # the event is committed, its job never queued
    assert post(down.test_client()).status_code == 202
    app = make_app()
    client = app.test_client()
    for event in ("ClientAdd", "InvoicePaid"):
        assert post(client, event).status_code == 202

    samples = scrape(client)
    # All three stored `queued`; one job never reached Redis (the relay's "job lost" case).
    assert value(samples, "bridge_actions", state="queued", channel="plan") == 3
    assert value(samples, "bridge_actions", state="pending", channel="plan") == 0
    assert value(samples, "bridge_actions", state="failed", channel="email") == 0
    assert value(samples, "bridge_queue_depth") == 2
    assert value(samples, "bridge_scrape_source_up", source="database") == 1
    assert value(samples, "bridge_scrape_source_up", source="redis") == 1

    # A source that does not answer leaves its gauges out and says so; the rest still comes.
    samples = scrape(down.test_client())
    assert value(samples, "bridge_scrape_source_up", source="redis") == 0
    assert value(samples, "bridge_queue_depth") is None
    assert value(samples, "bridge_actions", state="queued", channel="plan") == 3
    assert value(samples, "bridge_events_received_total", source="whmcs", type="ClientAdd") == 2


def test_relay_recoveries_and_lost_attempts(make_app):
    app = make_app()
    svc = services(app)
    lost_job = post(app.test_client()).get_json()["event_id"]
    svc.redis.flushdb()  # Redis lost the job
    stuck = post(app.test_client(), "InvoicePaid").get_json()["event_id"]
    stuck_plan = plan_of(svc, stuck)
    with svc.db.session() as session:  # a worker claimed it, wrote its attempt, and died
        assert move(session, stuck_plan.id, State.SENDING, "attempt 1", expect=[State.QUEUED], attempts=1)
        session.add(Attempt(action_id=stuck_plan.id, number=1))
    svc.redis.flushdb()

    later = utcnow() + timedelta(seconds=svc.settings.relay_sending_timeout_seconds + 1)
    report = build_relay(svc).run_once(now=later)
    assert report.requeued_lost == [plan_of(svc, lost_job).id] and report.recovered_sending == [stuck_plan.id]
    assert report.queued_retries == [stuck_plan.id]  # recovered for a retry due at once
    assert build_relay(svc).run_once(now=later).total == 0

    samples = scrape(app.test_client())
    assert value(samples, "bridge_relay_recoveries_total", kind="job_lost") == 1
    assert value(samples, "bridge_relay_recoveries_total", kind="stuck_sending") == 1
    assert value(samples, "bridge_relay_recoveries_total", kind="never_queued") is None
    assert value(samples, "bridge_relay_retries_queued_total") == 1
    assert value(samples, "bridge_attempts_total", channel="plan", outcome="lost") == 1
    assert value(samples, "bridge_attempt_duration_seconds_count", channel="plan") is None  # no duration


@responses.activate
def test_rate_limit_waits_and_deferrals(make_app, run_worker):
    responses.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
    app = make_app(**TWILIO, RATE_LIMIT_WHATSAPP_PER_SECOND=1, RATE_LIMIT_MAX_WAIT_SECONDS=1.5)
    client = app.test_client()
    for _ in range(2):
        assert post(client).status_code == 202
    run_worker(app)  # the second WhatsApp waits about a second for its slot
    RateLimiter(services(app).redis).penalize("twilio:whatsapp:+14155238886", 30)
    assert post(client).status_code == 202
    run_worker(app)  # the third is put back for later

    samples = scrape(client)
    assert value(samples, "bridge_rate_limit_waits_total", channel="whatsapp", outcome="waited") == 1
    assert 0.5 < value(samples, "bridge_rate_limit_wait_seconds_total", channel="whatsapp") <= 1.0
    assert value(samples, "bridge_rate_limit_waits_total", channel="whatsapp", outcome="deferred") == 1
    assert value(samples, "bridge_attempts_total", channel="whatsapp", outcome="sent") == 2
    assert value(samples, "bridge_actions", state="retrying", channel="whatsapp") == 1


@pytest.mark.slow  # left out of `make check`: it starts the metrics server
def test_metrics_server_serves_the_machine_directory(make_app, base_config):
    app = make_app()
    for _ in range(2):
        assert post(app.test_client()).status_code == 202
    port = free_port()
    env = subprocess_env(base_config, METRICS_TOKEN=TOKEN)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "metrics-server", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        refused = wait_for(lambda: requests.get(url, timeout=5).status_code, "the metrics server to answer")
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        elsewhere = requests.get(f"http://127.0.0.1:{port}/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert refused == 401 and elsewhere.status_code == 404
    samples = parse(answer.text)
    assert value(samples, "bridge_events_received_total", source="whmcs", type="ClientAdd") == 2
    # The database and queue gauges are the web's alone: two targets would count them twice.
    assert value(samples, "bridge_queue_depth") is None
    assert not any(name == "bridge_actions" for name, _ in samples)


@pytest.mark.slow  # left out of `make check`: it starts gunicorn
def test_gunicorn_sums_its_workers_cleans_at_start_and_keeps_a_dead_workers_totals(base_config, tmp_path):
    instance = tmp_path / "gunicorn-instance"
    (instance / "metrics").mkdir(parents=True)
    (instance / "metrics" / "counter_s7.db").write_bytes(b"")  # left by a process long gone
    port = free_port()
    config = {**base_config, "INSTANCE_PATH": str(instance)}
    env = subprocess_env(config, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2")
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def post_over_http() -> None:
        body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        assert requests.post(f"{base}/webhooks/whmcs", data=body, headers=headers, timeout=10).status_code == 202

    def received() -> float | None:
        samples = parse(requests.get(f"{base}/metrics", timeout=10).text)
        return value(samples, "bridge_events_received_total", source="whmcs", type="ClientAdd")

    try:
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=5).ok, "gunicorn to answer")
        assert not (instance / "metrics" / "counter_s7.db").exists()
        for _ in range(6):
            post_over_http()
        assert received() == 6
        workers = [int(p) for p in Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()]
        os.kill(workers[0], signal.SIGKILL)  # its replacement takes its slot over, totals kept
        wait_for(
            lambda: len(Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()) == 2,
            "gunicorn to replace the worker",
        )
        post_over_http()
        assert received() == 7
    finally:
        kill_tree(master.pid)
        master.wait(timeout=10)


def test_a_slot_is_held_while_its_process_lives_and_sweep_spares_it(tmp_path):
    first, second = SlotIdentity(tmp_path), SlotIdentity(tmp_path)
    assert (first(), second(), first()) == ("s0", "s1", "s0")  # one holder per slot
    for name in ("counter_s0.db", "counter_s1.db", "gauge_livesum_s0.db", "gauge_livesum_s1.db", "counter_99.db"):
        (tmp_path / name).write_bytes(b"")
    second.release()  # as its process's death would

    assert sweep(tmp_path, live_gauges_only=True) == ["gauge_livesum_s1.db"]
    assert sorted(sweep(tmp_path)) == ["counter_99.db", "counter_s1.db"]
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_s0.db", "gauge_livesum_s0.db"]
    assert SlotIdentity(tmp_path)() == "s1"  # the free slot is taken again
    first.release()
    assert sorted(sweep(tmp_path)) == ["counter_s0.db", "gauge_livesum_s0.db"]


def test_a_short_metrics_token_is_refused(make_app):
    from bridge.core.settings import SettingsError

    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        make_app(METRICS_TOKEN="short")
