"""Twilio's Content API at the HTTP edge, with memory: templates made, sent for approval and
decided, as WhatsApp's review plays out over days.

Every request is first passed to Prism serving the repository's copy of Twilio's own
description (testdata/twilio/twilio_content_v1.json): a request that does not fit it gets
Prism's refusal back, so the bridge's calls are checked against Twilio's contract. A
request that fits is answered from this stand-in's state, which Prism's fixed examples
cannot hold: the sid made is the one later asked about, and its approval goes from
`received` to `pending` (the first time it is read) to whatever the test decides.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.prism import REPO_ROOT, PrismTwilio

CONTENT_SPEC = REPO_ROOT / "testdata" / "twilio" / "twilio_content_v1.json"
ACCOUNT_SID = "AC11111111111111111111111111111111"
_APPROVAL_CREATE = re.compile(r"^/v1/Content/(HX[0-9a-f]{32})/ApprovalRequests/whatsapp$")
_APPROVAL_FETCH = re.compile(r"^/v1/Content/(HX[0-9a-f]{32})/ApprovalRequests$")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Template:
    sid: str
    friendly_name: str
    language: str
    body: str
    variables: dict[str, str]
    name: str = ""  # the approval request's WhatsApp name
    category: str = ""
    status: str = "unsubmitted"
    rejection_reason: str = ""


@dataclass
class Failure:
    path_pattern: str
    status: int
    code: int
    message: str


@dataclass
class ContentStandIn:
    """Run with `with ContentStandIn(prism) as content:`; `content.base_url` is where the
    bridge's TWILIO_CONTENT_API_BASE points."""

    prism: PrismTwilio
    templates: dict[str, Template] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, JSON body)
    refused_by_prism: list[tuple[str, int, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    # -- what a test does ----------------------------------------------------------
    def decide(self, name: str, status: str, reason: str = "") -> None:
        """WhatsApp's decision on the template sent for approval under `name`."""
        for template in self.templates.values():
            if template.name == name:
                template.status, template.rejection_reason = status, reason
                return
        raise KeyError(f"no template submitted as {name!r}: {sorted(t.name for t in self.templates.values())}")

    def fail_next(self, path_pattern: str, status: int, code: int, message: str) -> None:
        """The next request whose path matches answers a Twilio error instead."""
        self.failures.append(Failure(path_pattern, status, code, message))

    def creates(self) -> list[Any]:
        return [body for method, path, body in self.requests if method == "POST" and path == "/v1/Content"]

    # -- the server ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ContentStandIn:
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
        body = json.loads(raw) if raw else None
        path = handler.path.split("?")[0]
        self.requests.append((handler.command, path, body))
        status, answer = self._checked_by_prism(handler, raw)
        if status >= 400:
            self.refused_by_prism.append((path, status, answer))
            return _send(handler, status, answer)
        for failure in self.failures:
            if re.search(failure.path_pattern, path):
                self.failures.remove(failure)
                error = {"code": failure.code, "message": failure.message, "status": failure.status}
                return _send(handler, failure.status, json.dumps(error))
        status, payload = self._from_state(handler.command, path, body)
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

    def _from_state(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/Content":
            sid = f"HX{len(self.templates) + 1:032x}"
            template = Template(
                sid=sid,
                friendly_name=body["friendly_name"],
                language=body["language"],
                body=body["types"]["twilio/text"]["body"],
                variables=body.get("variables") or {},
            )
            self.templates[sid] = template
            return 201, {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "friendly_name": template.friendly_name,
                "language": template.language,
                "variables": template.variables,
                "types": {"twilio/text": {"body": template.body}},
                "url": f"https://content.twilio.com/v1/Content/{sid}",
                "links": {
                    "approval_create": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests/whatsapp",
                    "approval_fetch": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests",
                },
            }
        created = _APPROVAL_CREATE.match(path)
        if method == "POST" and created:
            template = self.templates[created.group(1)]
            template.name, template.category, template.status = body["name"], body["category"], "received"
            return 201, {
                "name": template.name,
                "category": template.category,
                "content_type": "twilio/text",
                "status": template.status,
                "rejection_reason": "",
                "allow_category_change": True,
            }
        fetched = _APPROVAL_FETCH.match(path)
        if method == "GET" and fetched:
            template = self.templates[fetched.group(1)]
            if template.status == "received":
                template.status = "pending"  # WhatsApp has picked it up for review
            return 200, {
                "sid": template.sid,
                "account_sid": ACCOUNT_SID,
                "whatsapp": {
                    "type": "whatsapp",
                    "name": template.name,
                    "category": template.category,
                    "content_type": "twilio/text",
                    "status": template.status,
                    "rejection_reason": template.rejection_reason,
                    "allow_category_change": True,
                    "flows": None,
                },
                "url": f"https://content.twilio.com/v1/Content/{template.sid}/ApprovalRequests",
            }
        return 404, {"code": 20404, "message": f"no {method} {path} in this stand-in", "status": 404}


def _send(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = text.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def content_prism() -> PrismTwilio:
    """Prism on Twilio's Content API description, unchanged (no added error answers: Prism
    then answers an invalid request with its own 422 naming what does not fit)."""
    return PrismTwilio(Path(CONTENT_SPEC), error_codes=())
