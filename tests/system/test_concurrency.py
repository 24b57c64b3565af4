"""The same event posted 20 times at once to two separate web processes: one event."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bridge.inbound.signing import signed_request
from bridge.services import services
from bridge.store.models import Action, Event
from tests.helpers import REPO, SECRET, count, load_sample, wait_until_healthy
from tests.support.prism import free_port

# Left out of `make check`: it starts two web processes.
pytestmark = pytest.mark.slow


def _web_process(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def test_twenty_posts_of_one_event_to_two_web_processes(app, base_config):
    env = {**os.environ, **{k: str(v) for k, v in base_config.items()}}
    web = [_web_process(env) for _ in range(2)]
    try:
        for _, url in web:
            wait_until_healthy(url)
        body, headers = signed_request(
            SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"), webhook_id="msg_twice"
        )

        def post(i: int) -> tuple[int, dict[str, object]]:
            response = requests.post(f"{web[i % 2][1]}/webhooks/whmcs", data=body, headers=headers, timeout=30)
            return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(post, range(20)))
    finally:
        for process, _ in web:
            process.terminate()
            process.wait(timeout=15)

    assert {status for status, _ in answers} == {202}
    assert len({str(answer["event_id"]) for _, answer in answers}) == 1
    svc = services(app)
    assert count(svc, Event) == 1 and count(svc, Action) == 1 and svc.queue.depth() == 1
