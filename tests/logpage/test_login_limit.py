"""The login limit is exact across processes: a password is checked only after one of the
LOGIN_MAX_FAILURES slots of (account, address) was taken, in one atomic statement."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from bridge.logpage.auth import create_staff
from bridge.services import services
from bridge.store.models import LoginFailure, utcnow
from tests.helpers import REPO, count, wait_until_healthy
from tests.logpage.conftest import EMAIL, PASSWORD, csrf_of, log_in_from
from tests.support.prism import free_port

PARALLEL = 30
WORKERS = ["--workers", "2", "--worker-class", "gthread", "--threads", "8"]
CHECKED = re.compile(r"password checked for \S+ from (\S+): (right|wrong)")


def _gunicorn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Two worker processes with eight threads each: sixteen logins handled at once."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *WORKERS, "wsgi:app"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.mark.slow  # left out of `make check`: it starts gunicorn
def test_thirty_parallel_wrong_logins_across_processes_check_at_most_five(log_app, base_config, tmp_path):
    create_staff(services(log_app).db, EMAIL, PASSWORD)
    env = {**os.environ, **{k: str(v) for k, v in base_config.items()}, "SECRET_KEY": "one key for every worker"}
    env["LOGIN_MAX_FAILURES"] = "5"
    log = tmp_path / "gunicorn.log"
    process, url = _gunicorn(env, log)
    try:
        wait_until_healthy(url, see=str(log))
        browser = requests.Session()
        token = csrf_of(browser.get(f"{url}/log/login", timeout=30).text)

        def attempt(password: str) -> int:
            data = {"email": EMAIL, "password": password, "csrf_token": token}
            return browser.post(f"{url}/log/login", data=data, allow_redirects=False, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            statuses = list(pool.map(attempt, [f"wrong guess {i:02}" for i in range(PARALLEL)]))
        right_afterwards = attempt(PASSWORD)
    finally:
        process.terminate()
        process.wait(timeout=30)

    checked = CHECKED.findall(log.read_text())
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) <= 5, f"{statuses.count(401)} passwords checked"
    assert len(checked) == statuses.count(401)  # one log line per password checked
    assert {outcome for _, outcome in checked} == {"wrong"}
    assert count(services(log_app), LoginFailure) == statuses.count(401)
    assert right_afterwards == 429  # the limit holds for the right password too


def test_refusals_older_than_the_window_free_their_slots(make_app):
    app = make_app(LOGIN_WINDOW_SECONDS=60)
    svc = services(app)
    create_staff(svc.db, EMAIL, PASSWORD)
    for _ in range(5):
        assert log_in_from(app.test_client(), "guess guess guess") == 401
    assert log_in_from(app.test_client(), PASSWORD) == 429
    with svc.db.session() as session:
        for row in session.query(LoginFailure).filter(LoginFailure.slot <= 2):
            row.at = utcnow() - timedelta(seconds=61)
    # Two slots are free again: two more checks, then the limit.
    assert log_in_from(app.test_client(), "guess guess guess") == 401
    assert log_in_from(app.test_client(), "guess guess guess") == 401
    assert log_in_from(app.test_client(), PASSWORD) == 429
    assert count(svc, LoginFailure) == 5
