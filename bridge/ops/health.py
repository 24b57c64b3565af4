"""/healthz (the process answers) and /readyz (it can do its job), for load balancers
and monitoring."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from bridge.services import services
from bridge.store.templates import missing_templates
from bridge.work.relay import HEARTBEAT_KEY

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Any:
    """200 when the database and Redis answer, the queue is not backed up past
    READY_MAX_QUEUE_DEPTH and a relay has run recently; 503 naming what is wrong. The
    WhatsApp notices with no approved template are reported either way."""
    svc = services()
    checks: dict[str, Any] = {}
    try:
        with svc.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says why
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        svc.redis.ping()
        checks["redis"] = "ok"
        depth = svc.queue.depth()
        limit = svc.settings.ready_max_queue_depth
        checks["queue_depth"] = depth
        checks["queue"] = "ok" if depth <= limit else f"backed up: {depth} > {limit}"
        beat = svc.redis.get(HEARTBEAT_KEY)
        age = time.time() - float(beat) if beat else None
        stale = 3 * svc.settings.relay_interval_seconds + 5
        checks["relay"] = "ok" if age is not None and age <= stale else "not running (no heartbeat)"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for k, v in checks.items() if k != "queue_depth")
    # Reported, not part of readiness: the bridge works, but outside the 24-hour window
    # WhatsApp will not deliver these notices until their templates are approved.
    checks["whatsapp_templates"] = _templates_check()
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _templates_check() -> str:
    svc = services()
    try:
        with svc.db.session() as session:
            missing = missing_templates(session, svc.catalog, dry_run=not svc.settings.twilio_configured)
    except Exception as exc:  # noqa: BLE001 - the database check above already says why
        return f"unknown: {type(exc).__name__}"
    if not missing:
        return "ok"
    listed = ", ".join(f"{event} ({language})" for event, language in missing)
    return f"{len(missing)} WhatsApp notices without an approved template: {listed}"
