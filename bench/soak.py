"""The soak (`--only soak`, not in the default run: about 30 minutes): does memory stay flat
from 10,000 to 100,000 events?

The bridge runs as in the monthly part (gunicorn with the production config, two workers,
the relay, WHMCS's API and Twilio stood in), with the send rates lifted so that the run
is bounded by the bridge's own work, and routing sending InvoiceCreated to WhatsApp alone
(one send per event: the same code paths as the monthly run, half the waiting). The events
are posted in two rounds, --soak-checkpoint of them and then the rest up to --soak-events;
after each round, once every Action is final, the RSS and PSS of every web and worker
process are read. Target: under 120 MB each at the end, and flat: the largest process has
grown by less than 10 % from the checkpoint to the end.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from bench import memory
from bench.delivery import whatsapp_only_config
from bench.stage import BenchCluster, PartResult, Row, Stage, invoice_created, post_all, providers, settle

RSS_LIMIT_MB = 120.0
GROWTH_LIMIT = 1.10  # "flat": less than 10 % more from the checkpoint to the end


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()
    total, checkpoint = args.soak_events, min(args.soak_checkpoint, args.soak_events)
    with providers() as (twilio, whmcs, settings):
        env = stage.env(
            **settings,
            RATE_LIMIT_WHATSAPP_PER_SECOND=10000,  # the settings' maximum: bounded by the bridge's work
            RATE_LIMIT_EMAIL_PER_SECOND=10000,
            BRIDGE_CONFIG_DIR=whatsapp_only_config(stage.out / "soak" / "config"),
        )
        with stage.cluster("soak", env) as cluster:
            cluster.start_web()
            cluster.start_workers(2)
            cluster.start_relay()
            readings = {}
            started = time.time()
            for upto, first in ((checkpoint, 0), (total, checkpoint)):
                posts = [invoice_created(i, whmcs, "soak") for i in range(first, upto)]
                post_all(cluster.web_url, posts)
                # A round of 90,000 takes about 25 minutes here.
                report = _reporter(upto, started)
                if not settle(cluster, stage.database_url, timeout=upto * 0.1 + 600, every=2.0, progress=report):
                    raise TimeoutError(f"soak: actions still open after {upto} events")
                readings[upto] = _read(cluster)
            sent = len(twilio.accepted())
    if sent < total:
        raise RuntimeError(f"{sent} WhatsApp messages reached Twilio for {total} events")
    return _result(readings, checkpoint, total, time.time() - started)


def _reporter(events: int, started: float) -> Callable[[int], None]:
    def report(waiting: int) -> None:
        print(f"  {time.time() - started:6.0f} s  {events} events posted, actions open {waiting}", flush=True)

    return report


def _read(cluster: BenchCluster) -> dict[str, dict[int, dict[str, float]]]:
    return {
        "web": {pid: memory.process_memory(pid) for pid in cluster.web_processes()},
        "worker": {process.pid: memory.process_memory(process.pid) for process in cluster.workers},
    }


def _result(readings: dict, checkpoint: int, total: int, seconds: float) -> PartResult:
    rows = []
    for kind in ("web", "worker"):
        before = max(m["rss_mb"] for m in readings[checkpoint][kind].values())
        after = max(m["rss_mb"] for m in readings[total][kind].values())
        rows.append(
            Row(
                "soak",
                f"{kind} RSS after {total:,} events (largest)",
                after,
                "MB",
                below=RSS_LIMIT_MB,
                note=f"{before:.1f} MB after {checkpoint:,}",
            )
        )
        rows.append(
            Row(
                "soak",
                f"{kind} RSS growth {checkpoint:,} -> {total:,} events",
                after / before,
                "x",
                below=GROWTH_LIMIT,
                note="largest process at the end over the largest at the checkpoint",
            )
        )
    detail = {
        "events": total,
        "checkpoint": checkpoint,
        "seconds": round(seconds, 1),
        "readings": {str(k): v for k, v in readings.items()},
    }
    return PartResult(rows=rows, detail=detail)
