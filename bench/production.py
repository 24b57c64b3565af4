"""The production benchmark (issue 7): the bridge's processes as deployed, measured side by
side with what bounds them, in one run on this machine. Never a timed test.

    .venv/bin/python -m bench.production --database-url postgresql://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/13 [--only ingest,panel] [--monthly-events 300] [--profile]
        [--activation-orders 100 --activation-rate 10] [--renewal-items 2000 --renewal-clients 1000]
        [--latency-events 150 --latency-rate 5]

Parts (bench/<part>.py says how each is measured):
  ingest    signed events/s and p99 through gunicorn, against the same app's bare 202 endpoint
  panel     what the PHP hook adds to a WHMCS request, against a direct 300 ms Twilio call
  delivery  WhatsApp sends/s of one worker process, against RQ's no-op jobs/s
  monthly   10,000 InvoiceCreated events: time to the last WhatsApp message, against the ideal
  memory    web and worker RSS after the monthly run, database bytes per event (runs monthly)
  activation  1,000 OrderPaid at 5/s, policy instant: p50 and p99 from the post to WHMCS's
            AcceptOrder, against the promise of activation within 2 minutes
  renewal   the daily renewal scan over 20,000 domains and services of 10,000 clients, WHMCS
            at 50 ms a call: wall time against 10 minutes, peak RSS against a tenth of the size
  latency   1,000 InvoiceCreated at 5/s, each its own client: p50 and p99 from the 202 to the
            WhatsApp message at Twilio, against p99 < 500 ms; and the post's own time to its 202
  soak      only with --only soak (about 30 minutes): web and worker RSS after 10,000 and after
            100,000 events, against 120 MB and growth under 10 %

The database is created if missing and its bridge tables are EMPTIED before each part
(bench.logpage's fill in the same database is lost: it refills on its next run); the Redis
database given is flushed. Prints a table and writes bench/results/production-<time>.json,
with each part's processes' logs (and py-spy samples with --profile) beside it.
Needs wrk (apt-get install wrk) and php-cli with curl; --profile needs py-spy in the venv.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import text

from bench import activation, delivery, ingest, latency, monthly, panel, renewal, soak
from bench.stage import RESULTS, PartResult, Row, Stage
from bridge.store.db import Database

PARTS = ("ingest", "panel", "delivery", "monthly", "memory", "activation", "renewal", "latency")
# Run only when asked (--only soak): longer than the rest together.
OPTIONAL_PARTS = ("soak",)
NEEDS = {"ingest": ["wrk"], "panel": ["php"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [tool for part in args.only for tool in NEEDS.get(part, []) if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install wrk php-cli php-curl)", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    stage = Stage(args.database_url, args.redis_url, RESULTS / f"production-{stamp}")
    stage.out.mkdir(parents=True, exist_ok=True)
    stage.prepare()
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.production", *(argv or sys.argv[1:])]),
        "machine": machine(stage),
        "parts": {},
    }
    rows: list[Row] = []
    failed = False
    for name, result in run_parts(stage, args):
        if isinstance(result, BaseException):
            failed = True
            report["parts"][name] = {"error": "".join(traceback.format_exception(result))}
            continue
        rows += result.rows
        report["parts"][name] = {
            "rows": [{**asdict(r), "target": r.target, "met": r.met} for r in result.rows],
            "detail": result.detail,
            "profiles": {k: asdict(v) for k, v in result.profiles.items()},
        }
        for title, profile in result.profiles.items():
            print(f"\nprofile, {title}:")
            print("\n".join(profile.lines()))
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["load_average_after"] = os.getloadavg()
    print()
    print_table(rows)
    path = RESULTS / f"production-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {path}; logs in {stage.out}")
    return 1 if failed else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.production", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="emptied part by part; created if missing")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="this database is flushed")
    parser.add_argument(
        "--only", default=",".join(PARTS), type=_parts, help=f"some of {','.join((*PARTS, *OPTIONAL_PARTS))}"
    )
    parser.add_argument("--wrk-seconds", type=int, default=20, help="length of each wrk run")
    parser.add_argument("--wrk-connections", type=_ints, default=[4, 8, 16, 32], help="tried for the maximum")
    parser.add_argument("--panel-calls", type=int, default=200, help="runs of the PHP hook")
    parser.add_argument("--panel-direct-calls", type=int, default=20, help="direct PHP sends to Twilio")
    parser.add_argument("--panel-twilio-ms", type=int, default=300, help="the Twilio stand-in's answer time")
    parser.add_argument("--delivery-actions", type=int, default=2000, help="WhatsApp sends (and no-op jobs)")
    parser.add_argument("--monthly-events", type=int, default=10_000, help="InvoiceCreated events")
    parser.add_argument("--monthly-rate", type=float, help="WhatsApp rate (default: the bridge's default)")
    parser.add_argument("--activation-orders", type=int, default=1000, help="OrderPaid events (new orders)")
    parser.add_argument("--activation-rate", type=float, default=5.0, help="OrderPaid posts per second, paced")
    parser.add_argument("--renewal-items", type=int, default=20_000, help="domains and services the scan reads")
    parser.add_argument("--renewal-clients", type=int, default=10_000, help="clients they belong to")
    parser.add_argument("--renewal-delay-ms", type=int, default=50, help="the WHMCS stand-in's answer time")
    parser.add_argument("--latency-events", type=int, default=1000, help="InvoiceCreated events, one client each")
    parser.add_argument("--latency-rate", type=float, default=5.0, help="InvoiceCreated posts per second, paced")
    parser.add_argument("--soak-events", type=int, default=100_000, help="soak: InvoiceCreated events in all")
    parser.add_argument("--soak-checkpoint", type=int, default=10_000, help="soak: memory read after these first")
    parser.add_argument("--profile", action="store_true", help="py-spy on ingest and delivery, after measuring")
    parser.add_argument("--profile-seconds", type=int, default=15)
    args = parser.parse_args(argv)
    if "memory" in args.only and "monthly" not in args.only:
        print("memory is read after the monthly run: running monthly too", flush=True)
        args.only.append("monthly")
    return args


def _parts(value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS) - set(OPTIONAL_PARTS)
    if unknown:
        known = ", ".join((*PARTS, *OPTIONAL_PARTS))
        raise argparse.ArgumentTypeError(f"unknown part(s) {', '.join(sorted(unknown))}; known: {known}")
    return parts


def _ints(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


def run_parts(stage: Stage, args: argparse.Namespace) -> list[tuple[str, PartResult | BaseException]]:
    """Each part in turn; one that fails is reported and the others still run."""
    runners = {
        "ingest": lambda: [ingest.run(stage, args)],
        "panel": lambda: [panel.run(stage, args)],
        "delivery": lambda: [delivery.run(stage, args)],
        "monthly": lambda: monthly.run(stage, args, with_memory="memory" in args.only),
        "activation": lambda: [activation.run(stage, args)],
        "renewal": lambda: [renewal.run(stage, args)],
        "latency": lambda: [latency.run(stage, args)],
        "soak": lambda: [soak.run(stage, args)],
    }
    results: list[tuple[str, PartResult | BaseException]] = []
    for name in (p for p in (*PARTS, *OPTIONAL_PARTS) if p in args.only and p in runners):
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            found = runners[name]()
        except Exception as exc:  # noqa: BLE001 - reported, and the other parts still run
            traceback.print_exc()
            results.append((name, exc))
            continue
        names = [name, "memory"] if len(found) > 1 else [name]
        results += list(zip(names, found, strict=True))
        print(f"   {name} took {time.monotonic() - started:.0f} s", flush=True)
    return results


def print_table(rows: list[Row]) -> None:
    header = ("part", "measure", "measured", "ceiling/ideal", "ratio", "target", "met?")
    lines = [header]
    for r in rows:
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        baseline = _value(r.baseline, r.unit) if r.baseline is not None else ""
        ratio = "" if r.ratio is None or math.isnan(r.ratio) else f"{r.ratio:.2f}"
        lines.append((r.part, r.measure, _value(r.measured, r.unit), baseline, ratio, r.target, met))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    notes = [f"  {r.part}, {r.measure}: {r.note}" for r in rows if r.note]
    misses = [f"  {r.part}, {r.measure}: {r.miss()}" for r in rows if r.miss()]
    if notes:
        print("\nnotes:\n" + "\n".join(notes))
    if misses:
        print("\nmissed targets:\n" + "\n".join(misses))


def _value(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value:,.0f} B"
    if unit == "s" and value < 1:
        return f"{value * 1000:.0f} ms"  # the activation's latencies, under a second when all is well
    if unit == "x":
        return f"{value:.3f}x"  # a growth factor: 1.0 is flat
    return f"{value:.1f} {unit}"


def machine(stage: Stage) -> dict[str, Any]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    db = Database(stage.database_url)
    try:
        with db.engine.connect() as connection:
            query = "SELECT version()" if stage.postgres else "SELECT sqlite_version()"
            database = connection.execute(text(query)).scalar()
    finally:
        db.dispose()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor(),
        "memory_total": _meminfo_total(),
        "load_average_before": os.getloadavg(),
        "python": platform.python_version(),
        "database": database,
        "redis": Redis.from_url(stage.redis_url).info("server").get("redis_version"),
        "php": _first_line(["php", "-r", "echo PHP_VERSION;"]),
        "wrk": _first_line(["wrk", "-v"]),
        "packages": {name: _version(name) for name in ("gunicorn", "rq", "flask", "sqlalchemy", "psycopg", "redis")},
    }


def _meminfo_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return line.split(":", 1)[1].strip()
    return ""


def _first_line(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
