"""Part 1, ingest: signed WHMCS events per second through gunicorn, against the same app's
bare 202 endpoint (bench/ceiling_wsgi.py) as the ceiling, in the same processes and run.

The web processes only take events in (verify, store, queue): no worker runs, so the
queue just grows. Both endpoints are first driven as fast as they go with each number
of connections in --wrk-connections (the best is the maximum), then paced at half their
maximum to read the latency a panel sees on a busy day.
Targets: ingest >= 60 % of the ceiling's throughput; p99 < 25 ms at half the maximum rate.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bench import pyspy
from bench.stage import PartResult, Row, Stage
from bench.wrk import RequestPool, WrkRun, pool_size, run_wrk
from bridge.store.db import Database
from bridge.store.models import Event

WEBHOOK_PATH = "/webhooks/whmcs"
CEILING_PATH = "/bench/accepted"  # served by bench/ceiling_wsgi.py
THROUGHPUT_TARGET = 0.60
P99_TARGET_MS = 25.0
CEILING_POOL = 2000  # requests, sent round and round to the bare endpoint


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()
    with stage.cluster("ingest", stage.env()) as cluster:
        cluster.start_web("bench.ceiling_wsgi:app")
        driver = Driver(cluster.web_url, stage.out / "ingest" / "requests", args.wrk_seconds)
        runs: list[WrkRun] = []
        for connections in args.wrk_connections:
            runs.append(driver.measure(CEILING_PATH, connections))
            runs.append(driver.measure(WEBHOOK_PATH, connections))
        ceiling = max((r for r in runs if r.path == CEILING_PATH), key=lambda r: r.rps)
        ingest = max((r for r in runs if r.path == WEBHOOK_PATH), key=lambda r: r.rps)
        paced_ceiling = driver.measure(CEILING_PATH, ceiling.connections, ceiling.rps / 2)
        paced = driver.measure(WEBHOOK_PATH, ingest.connections, ingest.rps / 2)
        runs += [paced_ceiling, paced]
        profiles = {}
        if args.profile:
            # One more run at the best connection count, sampled, after the measured ones.
            raw = stage.out / "ingest" / "profile.raw"
            driver.measure(WEBHOOK_PATH, ingest.connections, sampled=(cluster.web.pid, raw))
            profiles["ingest: web processes, CPU"] = pyspy.top_frames(raw)
    stored = _stored_events(stage.database_url)
    sent_ok = sum(r.requests - r.status_errors - r.socket_errors for r in runs if r.path == WEBHOOK_PATH)
    ratio = ingest.rps / ceiling.rps
    rows = [
        Row(
            "ingest",
            f"max throughput (-c{ingest.connections})",
            ingest.rps,
            "req/s",
            baseline=ceiling.rps,
            ratio=ratio,
            at_least=THROUGHPUT_TARGET,
            note=f"ceiling -c{ceiling.connections}",
        ),
        Row(
            "ingest",
            f"p99 at half max ({paced.rps:.0f}/s)",
            paced.p99_ms,
            "ms",
            baseline=paced_ceiling.p99_ms,
            below=P99_TARGET_MS,
            note=f"p50 {paced.p50_ms:.1f} ms; baseline: the ceiling's p99 at its half max; "
            f"{paced.late} of {paced.requests} requests found no free connection when due",
        ),
    ]
    problems = [r for r in runs if r.status_errors or r.socket_errors or r.wrapped]
    detail = {
        "runs": [asdict(r) for r in runs],
        "events_stored": stored,  # the profile's run and requests cut off at the end included
        "webhook_requests_answered": sent_ok,
        "runs_with_errors_or_repeats": [asdict(r) for r in problems],
        "paced_late_requests": {"ingest": paced.late, "ceiling": paced_ceiling.late},
    }
    return PartResult(rows=rows, detail=detail, profiles=profiles)


class Driver:
    """Runs wrk on one web server, with a fresh pool of signed requests for each run."""

    def __init__(self, base_url: str, folder: Path, seconds: int) -> None:
        self.base_url = base_url
        self.folder = folder
        self.seconds = seconds
        self.pool = RequestPool(run_id=time.strftime("%H%M%S"))
        self.expected = 800.0  # a first guess at the rate, for the size of the pool

    def measure(
        self, path: str, connections: int, rate: float | None = None, sampled: tuple[int, Path] | None = None
    ) -> WrkRun:
        """`sampled`: (pid, file) to run py-spy on during the run."""
        host = urlsplit(self.base_url).netloc
        distinct = path == WEBHOOK_PATH  # the bare endpoint ignores what it is sent
        size = pool_size(self.seconds, rate or self.expected) if distinct else CEILING_POOL
        self.pool.write(self.folder, path, host, size)
        sampler = pyspy.attach(sampled[0], self.seconds, sampled[1]) if sampled else None
        result = run_wrk(self.base_url, self.folder, path, connections, self.seconds, rate)
        if not distinct:
            result = replace(result, wrapped=0)  # repeats cost the bare endpoint nothing more
        if sampler is not None:
            sampler.wait(timeout=60)
        if path == WEBHOOK_PATH and rate is None:
            self.expected = max(self.expected, result.rps)
        print(f"  {result.summary()}", flush=True)
        return result


def _stored_events(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(Event)) or 0
    finally:
        db.dispose()
