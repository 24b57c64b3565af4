"""A local HTTP server standing in for Pagos360's API, with state and failure switches.

It serves what `providers/pagos360.py` uses: GET /card-adhesion/{id}, GET /card-debit-request/{id}
(and the other entity paths, from the same stores) and POST /card-debit-request, answering with
the shapes of testdata/samples/pagos360/api.*.json. Error bodies are `{"code", "message",
"errors"}`: Pagos360 documents none, so this is an assumption the client reads tolerantly.

    with pagos360_stand_in() as p360:
        api = Pagos360Api(p360.api_key, p360.base_url)
        p360.fail_next(1, 503); p360.set_adhesion_state(20871, "canceled"); p360.delay = 2
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "testdata" / "samples" / "pagos360"
API_KEY = "p360-test-key-7f3a9c"
ARGENTINA = timezone(timedelta(hours=-3))
ENTITY_PATH = re.compile(r"^/(card-adhesion|adhesion|card-debit-request|debit-request|payment-request)/(\d+)$")
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 422: "Unprocessable Entity"}


def load(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"api.{name}.json").read_text())


@dataclass
class Received:
    """One request as it arrived: for assertions on headers and on the exact bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Pagos360StandIn:
    base_url: str = ""
    api_key: str = API_KEY
    down: bool = False
    delay: float = 0.0
    adhesions: dict[int, dict[str, Any]] = field(default_factory=dict)
    debit_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    next_id: int = 553300
    _failures: list[tuple[int, str | None, float | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        signed = load("card_adhesion.signed")
        self.adhesions[signed["id"]] = signed
        for name in ("card_debit_request.paid", "card_debit_request.rejected"):
            sample = load(name)
            self.debit_requests[sample["id"]] = sample

    # -- switches ------------------------------------------------------------------------

    def fail_next(self, n: int, status: int, message: str | None = None, retry_after: float | None = None) -> None:
        """The next `n` requests answer `status` (before the key is even checked)."""
        with self._lock:
            self._failures += [(status, message, retry_after)] * n

    def set_adhesion_state(self, adhesion_id: int, state: str, comment: str | None = None) -> None:
        adhesion = self.adhesions[adhesion_id]
        adhesion["state"], adhesion["state_comment"] = state, comment
        adhesion["canceled_at"] = _now() if state == "canceled" else None

    def set_debit_request_state(self, request_id: int, state: str, comment: str | None = None) -> None:
        debit = self.debit_requests[request_id]
        debit["state"] = state
        if comment is not None:
            debit["state_comment"] = comment
        if state == "paid":
            debit["paid_at"] = _now()
            debit["request_result"] = [{"id": request_id + 40000, "amount": debit["amount"], "created_at": _now()}]

    # -- answers ---------------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any], dict]:
        """(status, extra headers, JSON body) for one request."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append((method, path, body))
            self.received.append(Received(method, path, headers, raw))
            failure = self._failures.pop(0) if self._failures else None
        time.sleep(self.delay)
        if failure:
            status, message, retry_after = failure
            extra = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return status, extra, _error(status, message or REASONS.get(status, "Service Unavailable"))
        if self.down:
            return 503, {}, _error(503, "Service Unavailable")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, _error(401, "Invalid API Key")
        if method == "GET" and (match := ENTITY_PATH.match(path)):
            entity = self._store(match[1]).get(int(match[2]))
            if entity is None:
                return 404, {}, _error(404, "Not Found")
            return 200, {}, copy.deepcopy(entity)
        if method == "POST" and path == "/card-debit-request":
            return self._create_debit_request(raw, body)
        return 404, {}, _error(404, "No route found")

    def _store(self, kind: str) -> dict[int, dict[str, Any]]:
        return {"card-adhesion": self.adhesions, "card-debit-request": self.debit_requests}.get(kind, {})

    def _create_debit_request(self, raw: bytes, body: Any) -> tuple[int, dict[str, Any], dict]:
        block = body.get("card_debit_request") if isinstance(body, dict) else None
        if not isinstance(block, dict):
            return 400, {}, _error(400, "Validation Failed", ["card_debit_request: This value should not be blank."])
        required = ("card_adhesion_id", "month", "year", "amount")
        problems = [f"{name}: This value should not be blank." for name in required if block.get(name) in (None, "")]
        amount = block.get("amount")
        if amount is not None and (isinstance(amount, (str, bool)) or not isinstance(amount, (int, float))):
            problems.append("amount: This value should be of type float.")
        # The decimals as written, not as parsed: 18150.001 must be refused, not rounded.
        written = re.search(rb'"amount"\s*:\s*(-?[0-9.eE+-]+)', raw)
        if written and "." in (text := written[1].decode()) and len(text.split(".")[1]) > 2:
            problems.append("amount: This value should have at most 2 decimals.")
        adhesion_id = block.get("card_adhesion_id")
        adhesion = self.adhesions.get(adhesion_id) if isinstance(adhesion_id, int) else None
        if not problems and adhesion is None:
            problems.append("card_adhesion_id: The card adhesion does not exist.")
        elif not problems and adhesion["state"] != "signed":
            problems.append("card_adhesion_id: The card adhesion is not signed.")
        if problems:
            return 400, {}, _error(400, "Validation Failed", problems)
        with self._lock:
            self.next_id += 1
            new_id = self.next_id
        created = {
            "id": new_id,
            "state": "pending",
            "amount": float(Decimal(str(amount))),
            "month": block["month"],
            "year": block["year"],
            "description": block.get("description"),
            "card_adhesion": {k: adhesion[k] for k in ("id", "external_reference", "state")},
            "created_at": _now(),
            "metadata": block.get("metadata") or {},
            "request_result": [],
        }
        self.debit_requests[new_id] = created
        return 201, {}, copy.deepcopy(created)


def _error(status: int, message: str, errors: list[str] | None = None) -> dict[str, Any]:
    return {"code": status, "message": message, "errors": errors or []}


def _now() -> str:
    return datetime.now(ARGENTINA).replace(microsecond=0).isoformat()


@contextmanager
def pagos360_stand_in() -> Iterator[Pagos360StandIn]:
    state = Pagos360StandIn()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = state.answer(self.command, self.path, headers, raw)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer to

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll: shutdown() waits for it, and each test starts and stops a server.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
