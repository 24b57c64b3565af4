"""Helpers the tests share: the test secret, the recorded samples, row readers, and the app
served over HTTP."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from bridge.services import Services
from bridge.store.models import Action, ActionTransition, Attempt

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO / "testdata"
SAMPLES = TESTDATA / "samples"
SECRET = "whsec_" + base64.b64encode(b"test-secret-0123456789abcdef").decode()


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """Serve the app over real HTTP on 127.0.0.1 (werkzeug, threaded); yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def load_sample(kind: str, name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / kind / f"{name}.json").read_text())


def count(svc: Services, model: type, *where: Any) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def actions_of(svc: Services, event_id: int, *, with_plan: bool = False) -> list[Action]:
    """The event's Actions in order; without its planning Action unless asked."""
    query = select(Action).where(Action.event_id == event_id).order_by(Action.id)
    if not with_plan:
        query = query.where(Action.channel != "plan")
    with svc.db.session() as session:
        return list(session.scalars(query))


def plan_of(svc: Services, event_id: int) -> Action:
    [plan] = [a for a in actions_of(svc, event_id, with_plan=True) if a.channel == "plan"]
    return plan


def attempts_of(svc: Services, action_id: int) -> list[Attempt]:
    with svc.db.session() as session:
        return list(session.scalars(select(Attempt).where(Attempt.action_id == action_id).order_by(Attempt.id)))


def transitions_of(svc: Services, action_id: int) -> list[tuple[str | None, str, str]]:
    with svc.db.session() as session:
        rows = session.scalars(
            select(ActionTransition).where(ActionTransition.action_id == action_id).order_by(ActionTransition.id)
        )
        return [(t.from_state, t.to_state, t.reason) for t in rows]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants. RQ's work-horse puts itself in its own
    process group (os.setpgrp), so killing the worker's group would spare it."""
    import os
    import signal
    from pathlib import Path

    def children(parent: int) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{parent}/task").glob("*"):
            text = (task / "children").read_text() if (task / "children").exists() else ""
            found.extend(int(p) for p in text.split())
        return found

    pending, everyone = [pid], []
    while pending:
        current = pending.pop()
        everyone.append(current)
        try:
            pending.extend(children(current))
        except OSError:
            pass
    for target in everyone:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_until_healthy(base_url: str, timeout: float = 30.0, see: str = "") -> None:
    """Poll GET <base_url>/healthz until a web process just started answers 200.

    Posting before then would have to be retried, and a retried post is a new event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} did not answer /healthz within {timeout:.0f}s" + (f"; see {see}" if see else ""))
