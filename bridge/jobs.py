"""The RQ jobs' entry point (`perform_action`, a name queued jobs carry: keep it). Jobs take ids,
never objects, and run inside an app context.

The standard `rq worker` command can run them: the app is then built once per worker
process from the environment. `bind_app` lets the bridge's own worker command and the
tests hand over the app they already built.

The Deliverer (its executors: planner, payment guard, providers; the rate limiter) is
built once per process and app and kept: a job then costs its own database and provider work, not the set-up.
"""

from __future__ import annotations

import os

from flask import Flask
from rq import get_current_job

from bridge.work.deliverer import Deliverer

_app: Flask | None = None
_deliverers: dict[tuple[int, str], Deliverer] = {}


def bind_app(app: Flask | None) -> None:
    global _app
    _app = app
    _deliverers.clear()


def _worker_app() -> Flask:
    global _app
    if _app is None:
        from bridge.app import build_app  # not create_app: a job needs no `flask` commands

        _app = build_app()
    return _app


def _deliverer(app: Flask, worker: str) -> Deliverer:
    from bridge.services import services
    from bridge.wiring import build_deliverer

    key = (id(app), worker)
    if key not in _deliverers:
        _deliverers[key] = build_deliverer(services(app), worker)
    return _deliverers[key]


def perform_action(action_id: int) -> str:
    """Carry out one Action; returns the state it was left in (for RQ's log)."""
    app = _worker_app()
    job = get_current_job()
    worker = (job.worker_name if job else None) or f"pid-{os.getpid()}"
    with app.app_context():
        return _deliverer(app, worker).deliver(action_id).state
