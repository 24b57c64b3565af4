"""wrk against the bridge with pre-signed, distinct WHMCS events (see bench/wrk_cycle.lua).

Every request is a real signed event of the fault suite's load (every hook type in turn,
each for its own client), with its own webhook id, so the bridge stores each one rather
than answering a repeat from the database. The signatures are made just before each wrk
run: the bridge accepts timestamps within 5 minutes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bridge.inbound.signing import signed_request
from tests.helpers import SECRET
from tests.system.faults import harness
from tests.system.faults.stand_ins import WhmcsApiStandIn

LUA = Path(__file__).resolve().parent / "wrk_cycle.lua"
THREADS = 2  # one per core: wrk shares the machine with what it measures


@dataclass(frozen=True)
class WrkRun:
    """One wrk run; latencies are wrk's own (from writing a request to its answer)."""

    path: str
    connections: int
    seconds: int
    offered_rate: float | None  # paced runs: the schedule's rate; None: as fast as it goes
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read, write errors and timeouts
    status_errors: int  # answers other than 2xx/3xx
    wrapped: int  # requests sent a second time because the pool ran out
    late: int  # paced runs: requests that found no free connection when due

    def summary(self) -> str:
        pace = f"paced {self.offered_rate:.0f}/s" if self.offered_rate else f"-c{self.connections}"
        problems = ""
        if self.socket_errors or self.status_errors or self.wrapped:
            problems = f"  errors {self.socket_errors}+{self.status_errors} repeats {self.wrapped}"
        return (
            f"{self.path:<16} {pace:<14} {self.rps:8.1f} req/s  p50 {self.p50_ms:6.1f} ms  "
            f"p99 {self.p99_ms:6.1f} ms{problems}"
        )


class RequestPool:
    """Writes signed events for wrk, one file per wrk thread; ids never repeat in a run."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.count = 0
        self.whmcs = WhmcsApiStandIn()  # only its invoice and quote owners are filled in

    def write(self, folder: Path, path: str, host: str, total: int) -> None:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        files = [(folder / f"requests-{t}.bin").open("wb") for t in range(THREADS)]
        try:
            for n in range(total):
                files[n % THREADS].write(self._request(path, host))
        finally:
            for file in files:
                file.close()

    def _request(self, path: str, host: str) -> bytes:
        planned = harness.whmcs_event(self.count, self.whmcs)
        webhook_id = f"bench-{self.run_id}-{self.count}"
        self.count += 1
        body, headers = signed_request(SECRET, planned.event_type, planned.body, webhook_id=webhook_id)
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        raw = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        return f"{len(raw)}\n".encode() + raw


def pool_size(seconds: int, expected_rps: float) -> int:
    """Enough requests that none is sent twice (with half again as margin)."""
    return math.ceil(seconds * expected_rps * 1.5) + 100


def run_wrk(
    base_url: str, folder: Path, path: str, connections: int, seconds: int, rate: float | None = None
) -> WrkRun:
    """wrk -t2 -c<connections> over the requests in `folder`; paced to `rate` when given."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    env = {**os.environ, "BENCH_WRK_THREADS": str(THREADS)}
    if rate:
        env["BENCH_WRK_RATE"] = f"{rate:.3f}"
    command = ["wrk", f"-t{THREADS}", f"-c{max(connections, THREADS)}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(LUA), base_url + "/", "--", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()} {done.stdout.strip()}")
    got = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    return WrkRun(
        path=path,
        connections=connections,
        seconds=seconds,
        offered_rate=rate,
        requests=got["requests"],
        rps=got["requests"] / (got["duration_us"] / 1e6),
        p50_ms=got["p50_us"] / 1000,
        p90_ms=got["p90_us"] / 1000,
        p99_ms=got["p99_us"] / 1000,
        max_ms=got["max_us"] / 1000,
        socket_errors=got["connect_errors"] + got["read_errors"] + got["write_errors"] + got["timeouts"],
        status_errors=got["status_errors"],
        wrapped=got["wrapped"],
        late=got["late"],
    )
