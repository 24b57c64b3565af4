"""The README's promise, on the embedded defaults: `flask --app wsgi up` (what `make run`
starts) brings web, worker and relay up with no services or credentials, and the CLI's
signed ClientAdd shows as one event with two dry-run actions; and what it prints (gunicorn's
access log, the bridge's own log) holds no token, no phone number and no query string."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.helpers import REPO, wait_until_healthy
from tests.support.prism import free_port

# Left out of `make check`: it starts `flask up`: web, worker and relay processes.
pytestmark = pytest.mark.slow

SETTING_NAMES = ("DATABASE_URL", "REDIS_URL", "TWILIO_", "SMTP_", "WHMCS_", "PORT", "INSTANCE_PATH", "MAIL_FROM")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_NAMES)}
    return {**env, **extra}


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PAGOS360_TOKEN = "run-command-token-" + "z" * 16
SEARCHED = "+5493515559876"


def test_up_then_send_test_event_then_recent(tmp_path):
    env = _clean_env(
        INSTANCE_PATH=str(tmp_path / "instance"), PORT=str(free_port()), PAGOS360_WEBHOOK_TOKEN=PAGOS360_TOKEN
    )
    up = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # Wait for the web to answer before posting: a retried post would be a new event.
        wait_until_healthy(f"http://127.0.0.1:{env['PORT']}", timeout=60)
        sent = _flask(env, "send-test-event", "ClientAdd")
        assert sent.stdout.startswith('202 {"event_id":1}'), sent.stdout + sent.stderr
        recent = _retry(lambda: _flask(env, "recent"), lambda r: r.stdout.count("[DRY RUN") == 2)
        lines = recent.stdout.splitlines()
        assert lines[0].startswith("event 1 ") and "whmcs/ClientAdd  client 1042" in lines[0]
        assert lines[1] == "    planning sent: planned 2 actions from the event alone (WHMCS API not configured)"
        assert "whatsapp sent" in lines[2] and "+5493515551234" in lines[2]
        assert "email    sent" in lines[3] and "lucia@radioandina.example" in lines[3]
        _requests_whose_paths_are_private(f"http://127.0.0.1:{env['PORT']}")
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        output = up.communicate(timeout=30)[0]
    assert "DRY RUN for whatsapp, sms, email" in output
    assert "WhatsApp templates (dry run):" in output  # synced at start: messages go as templates
    assert "bridge: stopped" in output
    assert up.returncode == 0
    assert not (tmp_path / "instance" / "redis" / "redis.sock").exists()  # the private Redis went with it
    leaked = [s for s in (PAGOS360_TOKEN, "zzzzzzzz", "5559876", "q=", "/log/?", "/no-such-page") if s in output]
    assert leaked == [], output
    # Both logs did see the requests: gunicorn's access line (deploy/gunicorn.conf.py: the
    # peer, X-Forwarded-For and -Proto, empty with no proxy in front, then method, status,
    # bytes, seconds) and the bridge's line with the route pattern.
    assert re.search(r'^127\.0\.0\.1 "-" - GET 405 \d+ [\d.]+s$', output, re.MULTILINE), output
    assert "GET /webhooks/pagos360/<token> 405" in output and "GET (no route) 404" in output


def _requests_whose_paths_are_private(base: str) -> None:
    """The Pagos360 URL with its token (GET: 405; POST of a wrong body: 400), a 404 path
    holding a phone number, and a log page search for a phone number."""
    url = f"{base}/webhooks/pagos360/{PAGOS360_TOKEN}"
    assert requests.get(url, timeout=10).status_code == 405
    assert requests.post(url, json={"not": "a notification"}, timeout=10).status_code == 400
    assert requests.get(f"{base}/no-such-page/{SEARCHED}", timeout=10).status_code == 404
    search = requests.get(f"{base}/log/", params={"q": SEARCHED}, allow_redirects=False, timeout=10)
    assert search.status_code == 302  # to the login page


def test_a_bad_setting_stops_the_cli_with_its_name(tmp_path):
    result = _flask(_clean_env(INSTANCE_PATH=str(tmp_path), PORT="http"), "recent")
    assert result.returncode != 0 and "PORT" in result.stderr


def _retry(run, done, timeout=40.0):
    deadline = time.monotonic() + timeout
    while True:
        result = run()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)
