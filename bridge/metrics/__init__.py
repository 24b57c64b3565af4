"""Prometheus metrics: counters written where things happen, read at `GET /metrics`.

Every process of the bridge (gunicorn's web workers, RQ workers and their work-horses, the
relay) writes its counters to files in one directory, METRICS_DIR (default
`<INSTANCE_PATH>/metrics`), with prometheus_client's multiprocess mode; the web's
`/metrics` adds them up (bridge.ops.metrics_endpoint), and on a machine without the web
`flask --app wsgi metrics-server` serves the same sum (bridge.ops.metrics_server). Gauges
that describe the system rather than one process (Actions by state, queue depth) are not
written by anyone: they are read from the database and Redis at scrape time
(bridge.ops.metrics_collector).

Getting multiprocess mode right in every process:
- prometheus_client picks its value class from PROMETHEUS_MULTIPROC_DIR *when it is first
  imported*, and a metric's files are opened in the directory the variable names *when a
  value is first used*. So prometheus_client is imported only by `configure` and by the
  modules imported after it (.definitions, .collector, .endpoint; .server imports it when
  its command runs). `configure` is called by `create_app` right after the settings are
  loaded, the first thing every process of the bridge does (`rq worker`'s work-horses too,
  through bridge.jobs): it sets the variable from METRICS_DIR, then imports prometheus_client.
- The parents set it too, so that a child importing prometheus_client before `create_app`
  (a library's own metrics) is also in multiprocess mode: gunicorn's master
  (bridge.metrics.gunicorn_hooks), and `flask --app wsgi up`, whose own `create_app` put
  it in the environment that bridge.ops.runner hands to web, worker and relay.
- `configure` then installs prometheus_client's own `MultiProcessValue` with a slot-based
  process identifier (bridge.metrics.slots) in place of the pid, whatever was imported
  before: with RQ's forking worker a pid is one job, and pid-named files would pile up
  by two per job. Forks are handled by prometheus_client (it re-opens the files when the
  identifier changes) and by the slots (a child takes its own).
- gunicorn's master deletes the files no live process holds when it starts, and the
  `live*` gauge files of dead processes in `child_exit` (bridge.metrics.gunicorn_hooks).
  Elsewhere nothing is deleted: a new process takes over a dead one's slot and adds to
  its totals, so the totals of processes that are gone only reset when the web starts.

The recording functions below are what the rest of the bridge calls; each is a no-op in
a process that never called `configure` (a script using bridge modules directly). This
package is a leaf of the import graph: everything records here, so it imports nothing that
records (the endpoint, which reads the app's state, is registered by `create_app`).

One process, one directory: a process that configures a second directory (the test suite
builds an app per test in one process) closes the first's files and writes to the new one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.metrics.slots import SlotIdentity

if TYPE_CHECKING:
    from bridge.metrics.definitions import BridgeMetrics

ENV_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_directory: Path | None = None
_identity: SlotIdentity | None = None
_metrics: BridgeMetrics | None = None


def prepare_directory(directory: str | Path) -> Path:
    """Create the directory, put it in this process's environment (inherited by the
    processes it starts), and return it resolved. Raises SettingsError naming METRICS_DIR."""
    from bridge.core.settings import SettingsError

    path = Path(directory).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"invalid settings: METRICS_DIR: cannot create {path}: {exc}") from None
    os.environ[ENV_VARIABLE] = str(path)
    return path


def configure(directory: str | Path) -> None:
    """Make this process write its metrics to `directory` (see the module's docstring)."""
    global _directory, _identity, _metrics
    path = Path(directory).resolve()
    if path == _directory:
        return
    prepare_directory(path)
    from prometheus_client import values  # the first import, now that the variable is set

    from bridge.metrics.definitions import BridgeMetrics

    if _identity is not None:
        values.close_all_multiprocess_files()
        _identity.release()
    _identity = SlotIdentity(path)
    values.ValueClass = values.MultiProcessValue(process_identifier=_identity)
    _directory = path
    _metrics = BridgeMetrics()


def directory() -> Path | None:
    """The directory this process writes to, or None before `configure`."""
    return _directory


def event_received(source: str, event_type: str, *, duplicate: bool = False) -> None:
    if _metrics is not None:
        _metrics.events_received.labels(source, event_type).inc()
        if duplicate:
            _metrics.events_duplicate.labels(source).inc()


def request_rejected(route: str, reason: str) -> None:
    if _metrics is not None:
        _metrics.requests_rejected.labels(route, reason).inc()


def attempt_finished(channel: str, outcome: str, seconds: float | None = None) -> None:
    """One attempt's outcome; `seconds` None for an attempt that has no duration (lost)."""
    if _metrics is not None:
        _metrics.attempts.labels(channel, outcome).inc()
        if seconds is not None:
            _metrics.attempt_duration.labels(channel).observe(seconds)


def action_finished(channel: str, state: str) -> None:
    if _metrics is not None:
        _metrics.actions_finished.labels(channel, str(state)).inc()


def relay_pass(*, never_queued: int, job_lost: int, stuck_sending: int, retries_due: int) -> None:
    if _metrics is not None:
        for kind, number in (("never_queued", never_queued), ("job_lost", job_lost), ("stuck_sending", stuck_sending)):
            if number:
                _metrics.relay_recoveries.labels(kind).inc(number)
        if retries_due:
            _metrics.relay_retries.inc(retries_due)


def rate_limit_wait(channel: str, seconds: float, *, deferred: bool) -> None:
    """A send held by the shared rate limit: slept `seconds`, or put back for that long."""
    if _metrics is not None:
        _metrics.rate_limit_waits.labels(channel, "deferred" if deferred else "waited").inc()
        if not deferred:
            _metrics.rate_limit_wait_seconds.labels(channel).inc(seconds)
