"""Queue jobs. They take ids, never objects, and run inside an app context.

The standard `rq worker` command can run them: the app is then built once per worker
process from the environment. `bind_app` lets the bridge's own worker command and the
tests hand over the app they already built.
"""

from __future__ import annotations

import os

from flask import Flask
from rq import get_current_job

_app: Flask | None = None


def bind_app(app: Flask | None) -> None:
    global _app
    _app = app


def _worker_app() -> Flask:
    global _app
    if _app is None:
        from bridge import create_app

        _app = create_app()
    return _app


def perform_action(action_id: int) -> str:
    """Carry out one Action; returns the state it was left in (for RQ's log)."""
    from bridge.services import services

    app = _worker_app()
    job = get_current_job()
    worker = (job.worker_name if job else None) or f"pid-{os.getpid()}"
    with app.app_context():
        return services(app).deliverer(worker).deliver(action_id).state
