"""Nothing lost: the relay recovers Actions the queue lost, or a dead worker left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from bridge.core.actions import PLAN_CHANNEL
from bridge.core.states import State
from bridge.services import services
from bridge.store.models import Action, utcnow
from bridge.wiring import build_deliverer, build_relay
from tests.helpers import REPO, actions_of, attempts_of, count, kill_tree, plan_of, transitions_of
from tests.support.slow_http import slow_twilio

SID = "AC" + "1" * 32


def test_redis_emptied_after_commit_every_action_is_requeued(post_event, svc, run_worker):
    event_id = post_event("ClientAdd").get_json()["event_id"]
    svc.redis.flushdb()  # Redis restarted without its data, before any worker ran
    assert run_worker() == 0

    report = build_relay(svc).run_once()

    assert report.requeued_lost == [plan_of(svc, event_id).id]
    assert run_worker() == 3
    assert [a.state for a in actions_of(svc, event_id, with_plan=True)] == ["sent", "sent", "sent"]
    assert "relay: the queue lost its job" in [t[2] for t in transitions_of(svc, report.requeued_lost[0])]


def test_actions_never_queued_are_queued_by_the_relay(make_app, run_worker):
    from bridge.inbound.signing import signed_request
    from tests.helpers import SECRET, load_sample

    down = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # crash-like: commit done, enqueue impossible
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    event_id = down.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    up = make_app()
    svc = services(up)

    report = build_relay(svc).run_once()

    # Stored `queued` with the event; its job never reached Redis: the relay's "job lost" rule.
    assert report.requeued_lost == [plan_of(svc, event_id).id]
    run_worker(up)
    assert [a.state for a in actions_of(svc, event_id)] == ["sent", "sent"]
    history = transitions_of(svc, report.requeued_lost[0])
    assert [t[1] for t in history] == ["queued", "queued", "sending", "sent"]
    assert [t[2] for t in history[:2]] == ["queued on receipt", "relay: the queue lost its job"]


def test_jobs_still_waiting_in_the_queue_are_left_alone(post_event, svc):
    post_event("ClientAdd")
    report = build_relay(svc).run_once(now=utcnow() + timedelta(hours=1))
    assert report.total == 0
    assert svc.queue.depth() == 1


def test_two_relays_at_once_queue_each_action_once(post_event, make_app, svc):
    post_event("ClientAdd")
    svc.redis.flushdb()
    other = build_relay(services(make_app()))
    first, second = build_relay(svc).run_once(), other.run_once()
    assert len(first.requeued_lost) + len(second.requeued_lost) == 1
    assert svc.queue.depth() == 1


@pytest.mark.slow  # left out of `make check`: it starts and kills a worker process
@pytest.mark.usefixtures("the_customer_wrote")  # the WhatsApp goes free-form: its window is open
def test_a_worker_killed_mid_send_loses_nothing(make_app, base_config, run_worker):
    """A real worker process is SIGKILLed while Twilio (a slow local stand-in) holds its
    request; the relay finds the Action stuck in `sending` and a new worker sends it."""
    created = {"sid": "SM" + "c" * 32, "status": "queued"}
    with slow_twilio(created) as (twilio, base):
        twilio.delay = 60
        settings = {
            **base_config,
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": "t",
            "TWILIO_WHATSAPP_FROM": "+14155238886",
            "TWILIO_API_BASE": base,
            "TWILIO_TIMEOUT_SECONDS": 90,
        }
        app = make_app(**settings)
        svc = services(app)
        from bridge.inbound.signing import signed_request
        from tests.helpers import SECRET, load_sample

        body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]

        env = {**os.environ, **{k: str(v) for k, v in settings.items()}}
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: len(twilio.requests) == 1, "the worker to reach Twilio")
            whatsapp = actions_of(svc, event_id)[0]
            assert whatsapp.channel == "whatsapp" and _state(svc, whatsapp.id) == State.SENDING
        finally:
            kill_tree(worker.pid)  # the worker and its work-horse (which has its own group)
            worker.wait()

        # Before the sending timeout the relay must not touch it: the send may still finish.
        assert build_relay(svc).run_once().recovered_sending == []
        twilio.delay = 0
        late = utcnow() + timedelta(seconds=svc.settings.relay_sending_timeout_seconds + 1)
        report = build_relay(svc).run_once(now=late)
        assert report.recovered_sending == [whatsapp.id]
        run_worker(app)

    assert _state(svc, whatsapp.id) == State.SENT
    assert [a.outcome for a in attempts_of(svc, whatsapp.id)] == ["lost", "sent"]
    assert any("worker lost during the send" in t[2] for t in transitions_of(svc, whatsapp.id))
    assert len(twilio.requests) == 2  # the documented at-least-once window
    assert count(svc, Action, Action.state == State.SENT) == 3  # the planning and both messages


def _state(svc, action_id):
    with svc.db.session() as session:
        return session.get(Action, action_id).state


def _wait_for(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_planning_that_finishes_after_the_relay_gave_it_up_stores_nothing(post_event, svc, run_worker):
    """A worker stalls mid-planning; the relay recovers the planning and another worker
    plans it; when the stalled one finally finishes, its Actions must not be stored too."""
    event_id = post_event("ClientAdd").get_json()["event_id"]
    plan = plan_of(svc, event_id)
    stalled = build_deliverer(svc, "stalled")
    action, attempt_id = stalled._claim(plan.id, plan.attempts)  # the stalled worker's claim and attempt
    late = utcnow() + timedelta(seconds=svc.settings.relay_sending_timeout_seconds + 1)
    assert build_relay(svc).run_once(now=late).recovered_sending == [plan.id]
    run_worker()  # another worker plans and delivers

    outcome = stalled._sent(action, attempt_id, 0.0, stalled.executors[PLAN_CHANNEL].carry_out(action, attempt_id))

    assert outcome.state == "superseded"
    assert [(a.channel, a.state) for a in actions_of(svc, event_id)] == [("whatsapp", "sent"), ("email", "sent")]
    assert [a.outcome for a in attempts_of(svc, plan.id)] == ["lost", "sent"]


def test_a_job_taken_off_the_queue_by_a_worker_that_died_is_requeued(post_event, svc, run_worker):
    """A worker popped the job and died before starting it: its hash still says "queued"."""
    event_id = post_event("ClientAdd").get_json()["event_id"]
    plan = plan_of(svc, event_id)
    svc.redis.lpop(svc.queue.queue.key)  # what the dead worker's dequeue did
    assert svc.queue.queue.fetch_job(f"action-{plan.id}").get_status() == "queued"

    assert build_relay(svc).run_once().requeued_lost == [plan.id]
    assert run_worker() == 3
