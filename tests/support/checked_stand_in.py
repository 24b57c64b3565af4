"""A stand-in for one of Twilio's APIs, at the HTTP edge, that remembers what it was asked and
first has Prism check each request against Twilio's own OpenAPI description.

A request Prism refuses gets Prism's answer (the bridge's call did not fit Twilio's
contract: the test fails on it); one Prism accepts is answered by the subclass's
`from_state`, which can hold what Prism's fixed examples cannot (a sid made now and asked
about later, a state that changes). `fail_next` makes the next matching request answer a
Twilio error instead.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.prism import PrismTwilio

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Failure:
    path_pattern: str
    status: int
    code: int
    message: str


@dataclass
class CheckedStandIn:
    """Run with `with SubClass(prism) as stand_in:`; `stand_in.base_url` is where the bridge's
    API base setting points."""

    prism: PrismTwilio
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, decoded body)
    refused_by_prism: list[tuple[str, int, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def from_state(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """The answer to a request Prism accepted: (status, JSON)."""
        raise NotImplementedError

    def fail_next(self, path_pattern: str, status: int, code: int, message: str) -> None:
        """The next request whose path matches answers this Twilio error instead."""
        self.failures.append(Failure(path_pattern, status, code, message))

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in._answer(self)

            def do_POST(self) -> None:
                stand_in._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = _decoded(raw, handler.headers.get("Content-Type", ""))
        path = handler.path.split("?")[0]
        with self._lock:
            self.requests.append((handler.command, path, body))
        status, answer = self._checked_by_prism(handler, raw)
        if status >= 400:
            self.refused_by_prism.append((path, status, answer))
            return _send(handler, status, answer)
        with self._lock:
            failure = next((f for f in self.failures if re.search(f.path_pattern, path)), None)
            if failure is not None:
                self.failures.remove(failure)
        if failure is not None:
            error = {"code": failure.code, "message": failure.message, "status": failure.status}
            return _send(handler, failure.status, json.dumps(error))
        with self._lock:
            status, payload = self.from_state(handler.command, path, body)
        _send(handler, status, json.dumps(payload))

    def _checked_by_prism(self, handler: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, str]:
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
        request = urllib.request.Request(
            self.prism.base_url + handler.path, data=raw or None, headers=headers, method=handler.command
        )
        try:
            with _NO_PROXY.open(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def _decoded(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type:
        return json.loads(raw)
    return {k: v[0] for k, v in parse_qs(raw.decode()).items()}


def _send(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = text.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
