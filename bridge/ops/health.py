"""/healthz (the process answers) and /readyz (it can do its job), for load balancers
and monitoring."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from bridge.core.debit_group import CHECK_NAME
from bridge.services import services
from bridge.store.health_checks import last_check
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
    WhatsApp notices with no approved template, and a debit group WHMCS could suspend, are
    reported either way."""
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
    checks["debit_group"] = _debit_group_check()
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


def _debit_group_check() -> str:
    """The last check of WHMCS's debit group (bridge.scheduled.debit_group_check): reported,
    never a reason to refuse events."""
    svc = services()
    if not svc.settings.pagos360_api_key:
        return "ok"  # no card direct debit here
    try:
        with svc.db.session() as session:
            last = last_check(session, CHECK_NAME)
            found = (last.ok, last.detail) if last is not None else None
    except Exception as exc:  # noqa: BLE001 - the database check above already says why
        return f"unknown: {type(exc).__name__}"
    if found is None:
        return "not checked yet (the relay checks it at its start)"
    return "ok" if found[0] else f"warning: {found[1]}"
