"""REDIS_URL naming a Sentinel service: the web side enqueues and a real worker process
runs the jobs on the master the sentinel names, and both follow the master through a
failover without a restart."""

from __future__ import annotations

import os
import sys

import pytest
from flask import Flask

from bridge.core.states import State
from bridge.inbound.signing import signed_request
from bridge.services import services
from tests.helpers import SECRET, load_sample
from tests.system.production.machines import Machines, carried_out
from tests.system.production.sentinel import sentinel_setup

# Left out of `make check`: it starts Redis Sentinel, a web server and a worker process.
pytestmark = pytest.mark.slow


def _post(app: Flask) -> int:
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    response = app.test_client().post("/webhooks/whmcs", data=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json["event_id"]


def test_web_and_worker_follow_the_master_through_a_failover(make_app, base_config, tmp_path):
    machines = Machines(tmp_path)
    with sentinel_setup(tmp_path / "sentinel") as setup:
        url = setup.url(db=2)
        app = make_app(REDIS_URL=url)
        env = {**os.environ, **{k: str(v) for k, v in base_config.items()}, "REDIS_URL": url}
        try:
            machines.start("worker", [sys.executable, "-m", "flask", "--app", "wsgi", "worker"], env)
            before = carried_out(app, _post(app), machines)
            first_master = setup.master_port_now()

            new_master = setup.failover()
            assert new_master == setup.replica_port != first_master

            # The same worker process, and the web side's client, now on the new master.
            after = carried_out(app, _post(app), machines)
            assert services(app).redis.connection_pool.get_master_address()[1] == new_master
        finally:
            exits = machines.stop()

    for actions in (before, after):
        assert {a.state for a in actions} == {State.SENT}, [(a.channel, a.state, a.last_error) for a in actions]
        assert {a.channel for a in actions} == {"plan", "whatsapp", "email"}
    # A warm shutdown on SIGTERM, not stuck behind a BLPOP cut short (see bridge/ops/redis_connection.py).
    assert exits == {"worker": 0}, machines.log("worker")[-2000:]
