"""gunicorn server hooks for the metrics directory; deploy/gunicorn.conf.py imports them
(`flask --app wsgi up` starts gunicorn with that file too).

They run in gunicorn's master, which never builds the app: `on_starting` reads METRICS_DIR
from the same settings, puts PROMETHEUS_MULTIPROC_DIR in the master's environment before
any worker is forked (so each worker has it before it imports anything), and deletes the
files no live process holds (bridge.metrics.slots.sweep: the files of workers and relays
on this machine that still run are kept). `child_exit` removes a dead worker's `live*`
gauge files, as prometheus_client's `mark_process_dead` does for pid-named ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bridge.metrics import ENV_VARIABLE, prepare_directory
from bridge.metrics.slots import sweep


def _directory() -> str:
    from bridge.core.settings import load_settings

    return load_settings().metrics_dir


def on_starting(server: Any) -> None:
    path = prepare_directory(_directory())
    deleted = sweep(path)
    server.log.info("metrics: %s (%d stale files removed)", path, len(deleted))


def child_exit(server: Any, worker: Any) -> None:
    directory = os.environ.get(ENV_VARIABLE)
    if directory:
        sweep(Path(directory), live_gauges_only=True)
