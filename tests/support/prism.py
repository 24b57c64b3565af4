"""Twilio API test double: Stoplight Prism serving Twilio's own OpenAPI spec.

Prism (``@stoplight/prism-cli``, pinned in ``tools/package.json``; install with
``tools/install-test-tools.sh``) is started as::

    prism mock <spec> --host 127.0.0.1 --port <free port> --errors

In mock mode Prism validates every request against the spec (path params such
as the ``AC…`` account SID, the form-encoded body, ``Content-Type`` and HTTP
Basic auth) and answers a violating request with an error instead of a mock:

* 422 ``application/problem+json`` for schema violations (missing ``To``, a
  malformed ``ContentSid``, a bad account SID, wrong types), with the details
  in ``validation[]``;
* 401 when there is no Basic auth;
* 415 when the body is not ``application/x-www-form-urlencoded``.

A valid ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` gets
``201`` with the spec's example (``sid`` ``SMaaaa…``, ``status`` ``queued``).
``--errors`` additionally turns *response* violations (a mock that does not
match the spec) into errors; request rejection happens with or without it.

Forcing a status: send ``Prefer: code=429`` (also ``example=<name>``,
``dynamic=true``). Prism can only return codes the spec defines for the
operation, and Twilio's spec defines only the 2xx ones, so by default this
module serves a copy of the spec with Twilio-style error responses for 429,
500 and 503 added to every operation (see ``error_codes``). Adding 400/401/422
is possible but then Prism answers *invalid* requests with that canned example
instead of its own 422 with validation details, so it is off by default.

Pytest usage (start Prism once per module; startup takes ~3-6 s here)::

    import pytest
    from tests.support.prism import PrismTwilio

    @pytest.fixture(scope="module")
    def prism():
        with PrismTwilio() as server:
            yield server            # server.base_url == "http://127.0.0.1:PORT"

    def test_send(prism):
        client = prism.twilio_client()        # twilio.rest.Client aimed at Prism
        msg = client.messages.create(to="whatsapp:+5493515551234",
                                     from_="whatsapp:+14155238886", body="hola")
        assert msg.sid.startswith("SM")

Pointing any existing ``twilio.rest.Client`` (twilio 9.x) at Prism::

    client.api.base_url = prism.base_url   # default "https://api.twilio.com"
    client.edge = client.region = None     # else TWILIO_EDGE/REGION rewrite host

(:func:`point_twilio_client_at` does exactly that.)

Environment overrides: ``TWILIO_OPENAPI_SPEC`` (spec path, default
``<repo>/testdata/twilio/twilio_api_v2010.json``), ``PRISM_BIN`` (prism
executable, default ``<repo>/tools/node_modules/.bin/prism``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PRISM_BIN = REPO_ROOT / "tools" / "node_modules" / ".bin" / "prism"
DEFAULT_SPEC = REPO_ROOT / "testdata" / "twilio" / "twilio_api_v2010.json"
INSTALL_HINT = "run tools/install-test-tools.sh (needs node >= 18.20.1 and npm)"

#: Credentials that satisfy the spec (``^AC[0-9a-fA-F]{32}$``); Prism only
#: checks that Basic auth is present, not its value.
TEST_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
TEST_AUTH_TOKEN = "prism-test-auth-token"

#: Status codes added to every operation so ``Prefer: code=N`` can force them.
DEFAULT_ERROR_CODES = (429, 500, 503)

# Twilio error code + message used in the canned body for each HTTP status.
_TWILIO_ERRORS = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    403: (20403, "Forbidden"),
    404: (20404, "The requested resource was not found"),
    422: (21610, "Attempt to send to unsubscribed recipient"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}
# Never route the loopback readiness probe through an http_proxy from the env.
_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class PrismNotInstalled(RuntimeError):
    """The prism executable is missing."""


class PrismStartupError(RuntimeError):
    """Prism exited or did not become ready in time."""


def find_prism() -> Path:
    """Path of the prism executable, or :class:`PrismNotInstalled`."""
    prism = Path(os.environ.get("PRISM_BIN") or DEFAULT_PRISM_BIN)
    if not (prism.is_file() and os.access(prism, os.X_OK)):
        raise PrismNotInstalled(f"Stoplight Prism not found at {prism}: {INSTALL_HINT}")
    if shutil.which("node") is None:
        raise PrismNotInstalled(f"'node' is not on PATH, Prism cannot run: {INSTALL_HINT}")
    return prism


def find_spec() -> Path:
    """Path of Twilio's api v2010 OpenAPI spec (env ``TWILIO_OPENAPI_SPEC``)."""
    spec = Path(os.environ.get("TWILIO_OPENAPI_SPEC") or DEFAULT_SPEC)
    if not spec.is_file():
        raise FileNotFoundError(
            f"Twilio OpenAPI spec not found at {spec}; set TWILIO_OPENAPI_SPEC to the path of twilio_api_v2010.json"
        )
    return spec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def twilio_error_body(status: int) -> dict:
    code, message = _TWILIO_ERRORS.get(status, (20000 + status, "Error"))
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def add_error_responses(spec: dict, codes: Iterable[int]) -> dict:
    """Add Twilio-style JSON error responses for ``codes`` to every operation
    (in place; existing responses are kept). Returns ``spec``."""
    codes = list(codes)
    for path_item in spec.get("paths", {}).values():
        for method, op in path_item.items():
            if method not in _HTTP_METHODS or not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            for status in codes:
                body = twilio_error_body(status)
                responses.setdefault(
                    str(status),
                    {
                        "description": body["message"],
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "code": {"type": "integer"},
                                        "message": {"type": "string"},
                                        "more_info": {"type": "string"},
                                        "status": {"type": "integer"},
                                    },
                                },
                                "example": body,
                            }
                        },
                    },
                )
    return spec


def point_twilio_client_at(client: Any, base_url: str) -> Any:
    """Send all ``api.twilio.com`` (API v2010) requests of a twilio 9.x
    ``Client`` to ``base_url``. Returns the client."""
    client.api.base_url = base_url.rstrip("/")
    # Client.get_hostname() rewrites the host when edge/region are set
    # (also via TWILIO_EDGE / TWILIO_REGION env vars); that would mangle
    # "127.0.0.1:PORT".
    client.edge = None
    client.region = None
    return client


def make_prefer_http_client(prefer: str | None = None, **kwargs: Any) -> Any:
    """A ``TwilioHttpClient`` that adds ``Prefer: <prefer>`` (when set) to every
    request and records them in ``.exchanges`` as
    ``(method, url, data, status_code)``. Change ``.prefer`` at any time,
    e.g. ``http.prefer = "code=429"``; ``None`` removes the header."""
    from twilio.http.http_client import TwilioHttpClient

    class PreferHttpClient(TwilioHttpClient):
        def __init__(self, prefer: str | None, **kw: Any) -> None:
            super().__init__(**kw)
            self.prefer = prefer
            self.exchanges: list = []

        def request(
            self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
        ):
            headers = dict(headers or {})
            if self.prefer:
                headers["Prefer"] = self.prefer
            response = super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )
            self.exchanges.append((method, url, data, response.status_code))
            return response

    return PreferHttpClient(prefer, **kwargs)


class PrismTwilio:
    """Run ``prism mock`` on Twilio's spec for the duration of a ``with`` block.

    :param spec: spec path (default: :func:`find_spec`).
    :param error_codes: statuses to add to every operation so that
        ``Prefer: code=N`` can force them; ``()`` serves the spec unchanged.
    :param startup_timeout: seconds to wait for Prism to listen.
    """

    def __init__(
        self,
        spec: os.PathLike | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        error_codes: Iterable[int] = DEFAULT_ERROR_CODES,
        startup_timeout: float = 60.0,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.spec = Path(spec) if spec else None
        self.host = host
        self.port = port
        self.error_codes = tuple(error_codes)
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._log_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> PrismTwilio:
        if self._proc is not None:
            return self
        prism = find_prism()
        spec = self.spec or find_spec()
        self._tmpdir = tempfile.TemporaryDirectory(prefix="prism-twilio-")
        tmp = Path(self._tmpdir.name)
        if self.error_codes:
            with open(spec, encoding="utf-8") as f:
                doc = add_error_responses(json.load(f), self.error_codes)
            spec = tmp / "twilio_api_v2010.json"
            spec.write_text(json.dumps(doc), encoding="utf-8")
        if self.port is None:
            self.port = free_port(self.host)
        self._log_path = tmp / "prism.log"
        cmd = [
            str(prism),
            "mock",
            str(spec),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--errors",
            *self.extra_args,
        ]
        began = time.monotonic()
        with open(self._log_path, "wb") as log:
            # Own session/process group so stop() can kill node and any child.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(tmp),
            )
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        deadline = began + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                raise PrismStartupError(
                    f"prism exited with code {self._proc.returncode} during startup; log tail:\n{self.log_tail()}"
                )
            try:
                # Any HTTP answer (404 "no path matched" here) means it is serving.
                _NO_PROXY_OPENER.open(f"{self.base_url}/__prism_ready__", timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PrismStartupError(
                    f"prism not ready after {self.startup_timeout:.0f}s on "
                    f"{self.base_url}; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
            self._log_path = None

    def __enter__(self) -> PrismTwilio:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        """e.g. ``http://127.0.0.1:4010`` (replaces ``https://api.twilio.com``)."""
        if self.port is None:
            raise RuntimeError("PrismTwilio not started")
        return f"http://{self.host}:{self.port}"

    def messages_url(self, account_sid: str = TEST_ACCOUNT_SID) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"

    def twilio_client(
        self,
        account_sid: str = TEST_ACCOUNT_SID,
        auth_token: str = TEST_AUTH_TOKEN,
        prefer: str | None = None,
    ) -> Any:
        """A ``twilio.rest.Client`` aimed at this Prism. Its ``http_client``
        is a :func:`make_prefer_http_client` (set ``.http_client.prefer`` to
        e.g. ``"code=429"`` to force an error; see ``.http_client.exchanges``)."""
        from twilio.rest import Client

        client = Client(account_sid, auth_token, http_client=make_prefer_http_client(prefer))
        return point_twilio_client_at(client, self.base_url)

    def log_text(self) -> str:
        """Prism's log so far (includes each request's validation messages)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
