"""The embedded mode's supervisor: web (gunicorn), one worker and the relay, together.

`make run` ends here. It applies the migrations once, then starts each part as its own
process with the private Redis's URL in its environment, restarts a part that dies, and
on Ctrl-C (or SIGTERM) stops them all and the private Redis.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from bridge.core.redis_url import redacted
from bridge.core.settings import REPOSITORY_ROOT
from bridge.ops.redis_embedded import stop_embedded_redis
from bridge.services import services
from bridge.store.migrate import upgrade

log = logging.getLogger("bridge.runner")  # the name its start-up lines have always had
ROOT = REPOSITORY_ROOT
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def _commands(port: int, host: str) -> dict[str, list[str]]:
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    return {
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            # The production settings, so that there is one access-log format (no path, which
            # may hold the Pagos360 token; no query string, which may hold a searched phone)
            # and one set of metrics hooks; bound here to one address, with two workers.
            "--config",
            str(GUNICORN_CONFIG),
            "--bind",
            f"{host}:{port}",
            "--workers",
            "2",
            "wsgi:app",
        ],
        "worker": [*flask, "worker"],
        "relay": [*flask, "relay"],
    }


def run_all(app: Flask, prepare: Callable[[], None] | None = None) -> None:
    """Migrate, run `prepare` (the `up` command's own start-up work), then keep the web
    server, a worker and the relay running until SIGINT or SIGTERM."""
    svc = services(app)
    settings = svc.settings
    upgrade(svc.db)
    if prepare is not None:
        prepare()
    env = {**os.environ, "REDIS_URL": app.config["BRIDGE_REDIS_URL"]}
    host = os.environ.get("HOST", "127.0.0.1")
    commands = _commands(settings.port, host)
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    dry = [ch for ch, p in svc.providers.items() if type(p).__name__ == "DryRun"]
    database = svc.db.url.render_as_string(hide_password=True)
    redis_where = (
        redacted(settings.redis_url)
        if settings.redis_url
        else f"private, under {Path(settings.instance_path) / 'redis'}"
    )
    print(f"bridge: listening on http://{host}:{settings.port}  (database {database})", flush=True)
    print(f"bridge: redis {redis_where}", flush=True)
    if dry:
        print(f"bridge: DRY RUN for {', '.join(dry)}: no credentials set, messages are recorded, not sent", flush=True)
    try:
        while not stopping:
            for name, command in commands.items():
                child = children.get(name)
                if child is None or child.poll() is not None:
                    if child is not None:
                        print(f"bridge: {name} exited with {child.returncode}; restarting", flush=True)
                        time.sleep(1)
                    children[name] = subprocess.Popen(command, cwd=ROOT, env=env)
            time.sleep(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if not settings.redis_url:
            stop_embedded_redis(settings.instance_path)
        print("bridge: stopped", flush=True)
