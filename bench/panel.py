"""Part 2, the panel's cost: what the shipped PHP hook file adds to a WHMCS request, against
sending one WhatsApp message straight from PHP to a Twilio that takes 300 ms to answer
(what a synchronous module does). Target: 50 times less or better.

The hook runs under real php-cli through tests/php/harness.php (WHMCS's add_hook and
friends stood in), posting to the bridge under gunicorn with the production config; the
harness times the include of the hook file and the hook call. PHP-FPM keeps compiled files
in OPcache, so OPcache's file cache is switched on for these runs: the include then costs
what it costs in a panel, not a compile. The direct send is bench/direct_send.php, timed
with hrtime around its curl call; both start a new connection per call, as a panel does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

from bench.stage import PartResult, Row, Stage, percentile
from tests.helpers import REPO, SECRET
from tests.php.panel import Panel
from tests.system.faults.stand_ins import ACCOUNT_SID, AUTH_TOKEN, Answer, TwilioStandIn, serve

DIRECT = Path(__file__).resolve().parent / "direct_send.php"
TARGET = 50.0
WARM_UP = 3  # fills OPcache's file cache and wakes every gunicorn worker


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()
    twilio = TwilioStandIn()
    pause = args.panel_twilio_ms / 1000

    def slow(method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        time.sleep(pause)
        return twilio.handle(method, path, headers, raw)

    folder = stage.out / "panel"
    folder.mkdir(parents=True, exist_ok=True)
    with serve(slow) as twilio_url, stage.cluster("panel", stage.env()) as cluster:
        cluster.start_web()
        hook = _hook_calls(folder, cluster.web_url, args.panel_calls)
        direct = _direct_calls(twilio_url, args.panel_direct_calls)
    if len(twilio.accepted()) != args.panel_direct_calls:
        raise RuntimeError(f"the Twilio stand-in accepted {len(twilio.accepted())} of {args.panel_direct_calls}")
    hook_ms = [call["include_ms"] + call["duration_ms"] for call in hook]
    ratio = statistics.median(direct) / statistics.median(hook_ms)
    row = Row(
        "panel",
        "PHP hook per event (median)",
        statistics.median(hook_ms),
        "ms",
        baseline=statistics.median(direct),
        ratio=ratio,
        at_least=TARGET,
        note=f"p99 {percentile(hook_ms, 0.99):.1f} ms vs direct p99 {percentile(direct, 0.99):.1f} ms",
    )
    detail = {
        "hook_calls": len(hook),
        "hook_ms": _spread(hook_ms),
        "hook_include_ms": _spread([c["include_ms"] for c in hook]),
        "hook_call_ms": _spread([c["duration_ms"] for c in hook]),
        "php_process_wall_ms": _spread([c["wall_s"] * 1000 for c in hook]),
        "direct_calls": len(direct),
        "direct_ms": _spread(direct),
        "twilio_stand_in_delay_ms": args.panel_twilio_ms,
    }
    return PartResult(rows=[row], detail=detail)


def _hook_calls(folder: Path, bridge_url: str, calls: int) -> list[dict]:
    """Run the InvoiceCreated hook `calls` times (after a warm-up), each in its own php."""
    panel = Panel(folder)
    panel.url, panel.secret = bridge_url, SECRET
    ini = folder / "php-ini"
    ini.mkdir(exist_ok=True)
    (folder / "opcache").mkdir(exist_ok=True)
    settings = f"opcache.enable_cli=1\nopcache.file_cache={folder / 'opcache'}\nopcache.file_cache_only=1\n"
    (ini / "bench-opcache.ini").write_text(settings)
    env = {"PHP_INI_SCAN_DIR": f":{ini}"}  # the leading ":" keeps PHP's own conf.d (curl)
    reports = []
    for n in range(WARM_UP + calls):
        report = panel.run("InvoiceCreated", "InvoiceCreated", **env)
        if report["activity_log"]:  # the hook logs only when something went wrong
            raise RuntimeError(f"the hook did not deliver: {report['activity_log']}")
        if n >= WARM_UP:
            reports.append(report)
    if panel.spooled():
        raise RuntimeError(f"{len(panel.spooled())} events were spooled instead of delivered")
    return reports


def _direct_calls(twilio_url: str, calls: int) -> list[float]:
    env = {
        **os.environ,
        "BENCH_TWILIO_URL": twilio_url,
        "BENCH_TWILIO_SID": ACCOUNT_SID,
        "BENCH_TWILIO_TOKEN": AUTH_TOKEN,
    }
    times = []
    for _ in range(calls):
        done = subprocess.run(
            ["php", str(DIRECT)], capture_output=True, text=True, env=env, cwd=REPO, timeout=30, check=True
        )
        answer = json.loads(done.stdout)
        if answer["status"] != 201:
            raise RuntimeError(f"the direct send got {answer}")
        times.append(float(answer["ms"]))
    return times


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "p99": round(percentile(values, 0.99), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }
