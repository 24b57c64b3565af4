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


def load_form(name: str) -> dict[str, str]:
    """A Twilio form post of testdata/samples/twilio/ (`key=value` a line, values decoded)."""
    lines = (SAMPLES / "twilio" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


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


# The sample client's WhatsApp number (testdata/samples/whmcs_hooks/ClientAdd.json), in E.164.
SAMPLE_NUMBER = "+5493515551234"


def customer_wrote(database_url: str, number: str = SAMPLE_NUMBER, hours_ago: float = 1) -> None:
    """`number` wrote to the company `hours_ago` hours ago, which opens WhatsApp's 24-hour
    window for free-form messages to it (bridge.store.whatsapp_numbers)."""
    from datetime import timedelta

    from bridge.store.db import Database
    from bridge.store.models import utcnow
    from bridge.store.whatsapp_numbers import open_window

    db = Database(database_url)
    with db.session() as session:
        open_window(session, number, utcnow() - timedelta(hours=hours_ago))
        session.commit()
    db.dispose()


def approve_every_template(database_url: str) -> int:
    """Every notice the shipped config routes to WhatsApp has an approved template, as after
    `templates sync` and WhatsApp's approval in production (fixture data: the rows the sync
    and the relay's polling would have written). Returns how many."""
    import hashlib

    from bridge.core.catalog import Catalog
    from bridge.store.db import Database
    from bridge.store.models import WhatsAppTemplate

    catalog = Catalog()
    rows = []
    for event, language in catalog.whatsapp_notices():
        text = catalog.template_text(event, language)
        assert text is not None, (event, language)
        sid = "HX" + hashlib.sha256(f"{event}:{language}".encode()).hexdigest()[:32]
        rows.append(
            WhatsAppTemplate(
                event_type=event,
                language=language,
                version=1,
                digest=text.digest,
                name=f"{event.lower()}_{language.lower()}_v1",
                body=text.body,
                variables=list(text.variables),
                content_sid=sid,
                status="approved",
                rejection_reason="",
                dry_run=False,
            )
        )
    db = Database(database_url)
    with db.session() as session:
        session.add_all(rows)
        session.commit()
    db.dispose()
    return len(rows)


def twilio_post(app: Flask, path: str, params: dict[str, str], token: str, public_base_url: str) -> Any:
    """A form post to one of the bridge's Twilio webhooks, signed as Twilio signs it: the
    public URL it calls plus the fields, with the account's auth token."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    signature = RequestValidator(token).compute_signature(f"{public_base_url}{path}", params)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    return app.test_client().post(path, data=urlencode(params), headers=headers)


def debit_requested(
    svc: Services, *, invoice_id: str, cycle: str, outcome: str | None, pagos360_id: str | None = None
) -> None:
    """A card debit the debit cycle asked Pagos360 for (adhesion 20871 of client 1042), as its
    request row and Action record it; `pagos360_id` is Pagos360's id for it (the Action's
    provider_ref), `outcome` how it ended ("paid", "rejected", or None: not known yet)."""
    from sqlalchemy import update

    from bridge.core.actions import PlannedAction
    from bridge.core.events import InboundEvent
    from bridge.store.models import DebitRequest
    from bridge.store.outbox import record_event, store_planned

    inbound = InboundEvent("bridge", "DebitCycle", f"debit-cycle:{cycle}:{invoice_id}", {})
    event = record_event(svc.db, inbound, plan_on=None)
    with svc.db.session() as session:
        planned = PlannedAction("pagos360_debit", "20871", {"amount": "18150.00"}, "test")
        [action_id] = store_planned(session, svc.queue, event.event_id, [("test", planned)])
        if pagos360_id is not None:
            session.execute(update(Action).where(Action.id == action_id).values(provider_ref=pagos360_id))
        session.add(
            DebitRequest(
                invoice_id=invoice_id,
                cycle=cycle,
                adhesion_pagos360_id="20871",
                whmcs_client_id="1042",
                amount=18150,
                action_id=action_id,
                outcome=outcome,
            )
        )
