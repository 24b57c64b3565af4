"""The web layout of the README's Production section, run for real: Debian's nginx with
deploy/nginx/bridge.conf in front of gunicorn with deploy/gunicorn.conf.py.

Clients that send a request's headers and one byte of a larger body, then stall, must not
hold the web workers: gunicorn's sync workers read bodies with no time limit, so ten of them
straight at gunicorn keep /healthz waiting (the strict xfail below shows the same check
failing there), while nginx reads each body itself and drops the stalled ones.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.core.settings import load_settings
from bridge.inbound.signing import signed_request
from tests.helpers import SECRET, load_sample
from tests.system.production.machines import Machines
from tests.system.production.web_layout import (
    Proxy,
    nginx_missing,
    stalled_bodies,
    start_gunicorn,
    start_nginx,
    wait_for_healthz,
)

# Left out of `make check`: it starts nginx and gunicorn.
pytestmark = pytest.mark.slow

SLOW_CLIENTS = 10
LIVENESS_BOUND = 10.0  # seconds for /healthz to answer: a liveness check, not a speed target
NGINX_DROPS_WITHIN = 40.0  # the site's client_body_timeout is 10 s; nginx's default is 60 s


@pytest.fixture(scope="module", autouse=True)
def _nginx_available() -> None:
    missing = nginx_missing()
    if missing:
        pytest.fail(missing)  # fail loudly, never skip: CI installs it (tools/setup.sh test)


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    started = Machines(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def gunicorn(machines: Machines, base_config: dict[str, Any], tmp_path: Path) -> str:
    address = start_gunicorn(machines, base_config, tmp_path / "instance")
    wait_for_healthz(f"http://{address}", machines)
    return address


@pytest.fixture
def proxy(machines: Machines, gunicorn: str, tmp_path: Path) -> Proxy:
    return start_nginx(machines, gunicorn, tmp_path / "nginx")


def healthz_while_bodies_stall(target: str, healthz_url: str, cert: Path | None = None) -> list[socket.socket]:
    """Stall SLOW_CLIENTS bodies at `target`, then GET /healthz: it must answer 200 within
    LIVENESS_BOUND. Returns the stalled connections, still open, for the caller to close."""
    held = stalled_bodies(target, SLOW_CLIENTS, cert)
    try:
        response = requests.get(healthz_url, timeout=LIVENESS_BOUND, verify=str(cert) if cert else True)
    except requests.Timeout:
        for connection in held:
            connection.close()
        pytest.fail(f"/healthz did not answer within {LIVENESS_BOUND:.0f} s while {SLOW_CLIENTS} bodies stalled")
    assert response.status_code == 200
    return held


def _gunicorn_access_lines(machines: Machines) -> list[str]:
    """gunicorn's access log lines (deploy/gunicorn.conf.py's access_log_format)."""
    return re.findall(r'^\S+ "[^"]*" \S+ [A-Z]+ \d{3} \S+ \S+s$', machines.log("gunicorn"), re.M)


def _posts_seen_by_gunicorn(machines: Machines) -> list[str]:
    """The statuses of the POSTs in gunicorn's access log, in order."""
    return [line.split()[-3] for line in _gunicorn_access_lines(machines) if " POST " in line]


def _eventually(condition: Callable[[], bool], within: float = 30.0) -> bool:
    """Whether `condition` holds within `within` seconds (a liveness bound, polled)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _answered(connection: ssl.SSLSocket) -> bool:
    """Whether the server has answered or closed `connection` yet (without waiting).

    Not select(): TLS 1.3 session tickets make a socket readable with no answer in it."""
    connection.setblocking(False)
    try:
        connection.recv(1024)
        return True  # an answer, or b"": closed
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    finally:
        connection.setblocking(True)


def test_stalled_bodies_hold_no_worker_behind_nginx(proxy: Proxy, machines: Machines):
    host_port = proxy.https_url.removeprefix("https://")
    held = healthz_while_bodies_stall(host_port, f"{proxy.https_url}/healthz", proxy.cert)
    # They were still stalled while /healthz answered: nothing had come back to any of them.
    assert not any(map(_answered, held)), "nginx had already dropped the slow clients: the check proved nothing"
    # nginx drops them after client_body_timeout (an empty read or its 408), within a bound.
    deadline = time.monotonic() + NGINX_DROPS_WITHIN
    for connection in held:
        connection.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            answer = connection.recv(1024)
        except TimeoutError:
            pytest.fail(f"nginx still held a stalled body after {NGINX_DROPS_WITHIN:.0f} s")
        except (ssl.SSLError, ConnectionResetError):
            answer = b""  # closed without a TLS close_notify: dropped all the same
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]
        connection.close()
    # None of them reached gunicorn: it logged only the health checks.
    assert {line.split()[-4] for line in _gunicorn_access_lines(machines)} == {"GET"}, machines.log("gunicorn")
    assert _eventually(lambda: proxy.access_log.count(" POST whmcs_webhook 408 ") == SLOW_CLIENTS), proxy.access_log


@pytest.mark.xfail(
    strict=True, raises=pytest.fail.Exception, reason="gunicorn alone: its workers wait for stalled bodies"
)
def test_stalled_bodies_hold_gunicorn_without_the_proxy(gunicorn: str):
    held = healthz_while_bodies_stall(gunicorn, f"http://{gunicorn}/healthz")
    for connection in held:
        connection.close()


def _post_from(source_ip: str, proxy: Proxy, path: str, body: bytes, headers: dict[str, str]) -> int:
    """POST through nginx from `source_ip` (another loopback address than nginx's own)."""
    host, port = proxy.https_url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(proxy.cert))
    connection = http.client.HTTPSConnection(host, int(port), context=context, source_address=(source_ip, 0))
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_signed_webhook_through_nginx_and_what_reaches_gunicorn(proxy: Proxy, machines: Machines):
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    forged = {**headers, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http", "X-Forwarded-Ssl": "off"}
    assert _post_from("127.0.0.2", proxy, "/webhooks/whmcs", body, forged) == 202
    # gunicorn sees nginx as the peer; the client's own address is the last X-Forwarded-For
    # entry (what TRUSTED_PROXY_COUNT=1 reads), the forged one only before it; the scheme is
    # nginx's, not the client's.
    # Each server writes its access line once the answer has left: poll for it.
    assert _eventually(lambda: len(_posts_seen_by_gunicorn(machines)) == 1), machines.log("gunicorn")
    [line] = [x for x in _gunicorn_access_lines(machines) if " POST " in x]
    assert line.startswith('127.0.0.1 "203.0.113.9, 127.0.0.2" https POST 202 '), line

    # The access log names the route: no path (the Pagos360 token is one), no query string.
    token = "not-the-token-" + "x" * 24
    _post_from("127.0.0.2", proxy, f"/webhooks/pagos360/{token}?secret=query-value", b"{}", {})
    assert _eventually(lambda: " POST pagos360_webhook 404 " in proxy.access_log), proxy.access_log
    log = proxy.access_log
    assert re.search(r"^127\.0\.0\.2 \[\S+\] POST pagos360_webhook 404 ", log, re.M), log
    assert re.search(r"^127\.0\.0\.2 \[\S+\] POST whmcs_webhook 202 ", log, re.M), log
    assert token not in log and "query-value" not in log and "/webhooks" not in log

    # nginx's body limit is the bridge's (MAX_BODY_BYTES, 256 KiB by default): a body at the
    # limit reaches the bridge (which refuses its missing signature), one byte more does not.
    limit = load_settings(environ={}).max_body_bytes
    json_headers = {"Content-Type": "application/json"}
    assert _post_from("127.0.0.2", proxy, "/webhooks/whmcs", b" " * limit, json_headers) == 401
    assert _post_from("127.0.0.2", proxy, "/webhooks/whmcs", b" " * (limit + 1), json_headers) == 413
    # The 413 was nginx's own: gunicorn saw three POSTs, never a fourth.
    assert _eventually(lambda: len(_posts_seen_by_gunicorn(machines)) >= 3), machines.log("gunicorn")
    assert _posts_seen_by_gunicorn(machines) == ["202", "404", "401"]
    # nginx writes that line once it has drained the refused body (lingering close).
    assert _eventually(lambda: " POST whmcs_webhook 413 " in proxy.access_log), proxy.access_log

    # Plain http is sent to https; nothing is served on it.
    redirect = requests.post(f"{proxy.http_url}/webhooks/whmcs", data=body, allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"] == "https://127.0.0.1/webhooks/whmcs"
