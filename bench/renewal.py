"""Part 6, the daily renewal scan: `run_renewal_scan` (bridge/scheduled/renewal_scan.py) over
--renewal-items domains and services (20,000 by default: 60 % domains, 40 % services) of
--renewal-clients clients (10,000), against WHMCS's API stood in by a local HTTP server in a
thread of this process that answers each call --renewal-delay-ms late (50 ms), as a loaded
WHMCS does. The stand-in serves GetClientsDomains and GetClientsProducts by limitstart and
limitnum with `totalresults`, each row shaped as testdata/samples/whmcs_api's
GetClientsDomains.json and GetClientsProducts.nextduedate.json: every item Active, auto-renew
off on a fifth of the domains, paid by Pagos360, bank transfer or Mercado Pago in turn.

A tenth of each kind (LEAD_SHARE) expires or renews exactly 30, 7 or 1 days after the scan
day; the rest fall outside 0..30 days (up to 30 days past, or 31 to 395 days ahead), since a
date inside that stretch draws a notice too (the scan catches up a missed lead day). So the
notices expected are the items on a lead day, and every one of them is new (the database
starts empty).

The scan runs in a child process (`python -m bench.renewal --child ...`), built as the
`flask renewal-scan` command builds it (`bridge.create_app`, the repository's config), so the
stand-in's rows are not counted in its memory. It runs twice, at a tenth of the size
(2,000 items of 1,000 clients) and at the full size, each from an empty database. The child
resets its VmHWM once the app is built (start-up's own peak, 30 to 60 MB over what it then
holds, would hide the scan's) and reads it from /proc/self/status after the scan; getrusage's
ru_maxrss is read before the reset and after the scan (Linux's follows the reset, so it no
longer shows the start-up's peak: VmHWM before the reset does); this process samples the
child's RSS every second. The scan reads one page (250 items) at a time, so its peak should not grow with the
list: the target is a full-size peak under 1.2 times the small one (the 20,000 rows decoded
and held at once would add some 43 MB to the app's 102 MB, a ratio of about 1.4). The wall
time is the scan's own (the app built), against the issue's 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:  # the child imports nothing of the parent's (its memory is what is measured)
    from bench.stage import PartResult, Stage

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "testdata" / "samples" / "whmcs_api"
LEAD_DAYS = (30, 7, 1)  # config/routing.toml's [reminders] lead_days
LEAD_SHARE = 0.10  # of each kind, due exactly on a lead day
DOMAIN_SHARE = 0.6
SMALL = 10  # the small run is a tenth of the full one
WALL_LIMIT_S = 600.0  # the issue: the daily scan within 10 minutes
FLAT_RATIO = 1.2  # peak RSS at the full size over the small one
IDENTIFIER, API_SECRET = "bench-identifier", "bench-secret"
FIRST_CLIENT = 1
FIRST_DOMAIN, FIRST_SERVICE, FIRST_ORDER = 100_000, 200_000, 300_000
PAYMENT_METHODS = (
    ("pagos360", "Débito automático (Pagos360)"),
    ("banktransfer", "Transferencia bancaria"),
    ("mercadopago", "Mercado Pago"),
)
PRODUCTS = (
    ("7", "Hosting Emprendedor", "Hosting", "Quarterly", "28500.00"),
    ("12", "Radio Streaming Pro", "Streaming", "Monthly", "15000.00"),
    ("15", "Hosting Empresa", "Hosting", "Annually", "96000.00"),
    ("21", "VPS 2 GB", "Servidores", "Semi-Annually", "54000.00"),
)
# Offsets (days after the scan day) that draw no notice: past, or beyond the largest lead day.
QUIET_OFFSETS = tuple(range(-30, 0)) + tuple(range(max(LEAD_DAYS) + 1, 396))


def _offsets(count: int, rng: random.Random) -> list[int]:
    """Each item's date, as days after the scan day: LEAD_SHARE of them on a lead day."""
    on_lead = round(count * LEAD_SHARE)
    offsets = [LEAD_DAYS[n % len(LEAD_DAYS)] for n in range(on_lead)]
    offsets += [rng.choice(QUIET_OFFSETS) for _ in range(count - on_lead)]
    rng.shuffle(offsets)
    return offsets


@dataclass
class WhmcsLists:
    """WHMCS's `includes/api.php` for the scan: the whole list of domains and services, paged
    by limitstart/limitnum; rows made on demand (one page at a time) from the samples."""

    domains: int
    services: int
    clients: int
    day: date
    delay_s: float
    seed: int = 7
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)  # noqa: S311 - a benchmark's dates, not a secret
        self.domain_offsets = _offsets(self.domains, rng)
        self.service_offsets = _offsets(self.services, rng)
        domains = json.loads((SAMPLES / "GetClientsDomains.json").read_text())
        products = json.loads((SAMPLES / "GetClientsProducts.nextduedate.json").read_text())
        self.domain_row: dict[str, Any] = domains["domains"]["domain"][0]
        self.product_row: dict[str, Any] = products["products"]["product"][1]  # the Active one
        self.domains_head = {k: v for k, v in domains.items() if k != "domains"}
        self.products_head = {k: v for k, v in products.items() if k != "products"}

    @property
    def expected_notices(self) -> int:
        return sum(o in LEAD_DAYS for o in self.domain_offsets) + sum(o in LEAD_DAYS for o in self.service_offsets)

    @property
    def expected_calls(self) -> int:
        """What paging 250 a call takes: one call more for an empty list."""
        from bridge.scheduled.renewal_scan import PAGE

        return sum(max(1, math.ceil(n / PAGE)) for n in (self.domains, self.services))

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST" or path != "/includes/api.php":
            return 404, {"Content-Type": "text/html"}, b"<html>Not Found</html>"
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        action = form.get("action", "")
        with self._lock:
            self.calls[action] = self.calls.get(action, 0) + 1
        answer = self._answer(action, form)
        body = json.dumps(answer).encode()
        time.sleep(self.delay_s)
        return 200, {"Content-Type": "application/json"}, body

    def _answer(self, action: str, form: dict[str, str]) -> dict[str, Any]:
        if form.get("identifier") != IDENTIFIER or form.get("secret") != API_SECRET:
            return {"result": "error", "message": "Authentication Failed"}
        start, number = int(form.get("limitstart") or 0), int(form.get("limitnum") or 25)
        if action == "GetClientsDomains":
            rows = [self._domain(i) for i in range(start, min(self.domains, start + number))]
            head, total, outer, inner = self.domains_head, self.domains, "domains", "domain"
        elif action == "GetClientsProducts":
            rows = [self._service(i) for i in range(start, min(self.services, start + number))]
            head, total, outer, inner = self.products_head, self.services, "products", "product"
        else:
            return {"result": "error", "message": f"{action}: not stood in"}
        return {
            **head,
            "clientid": "",
            "totalresults": str(total),
            "startnumber": start,
            "numreturned": len(rows),
            outer: {inner: rows} if rows else "",  # WHMCS's empty list
        }

    def _domain(self, i: int) -> dict[str, Any]:
        client = FIRST_CLIENT + i % self.clients
        expiry = self.day + timedelta(days=self.domain_offsets[i])
        method, method_name = PAYMENT_METHODS[i % len(PAYMENT_METHODS)]
        amount = f"{14500 + (i % 4) * 2500}.00"
        return {
            **self.domain_row,
            "id": str(FIRST_DOMAIN + i),
            "userid": str(client),
            "orderid": str(FIRST_ORDER + i),
            "domainname": f"cliente{client}-{i}.example",
            "firstpaymentamount": amount,
            "recurringamount": amount,
            "paymentmethod": method,
            "paymentmethodname": method_name,
            "regdate": (expiry - timedelta(days=365)).isoformat(),
            "expirydate": expiry.isoformat(),
            "nextduedate": expiry.isoformat(),
            "status": "Active",
            "donotrenew": "1" if i % 5 == 4 else "0",
        }

    def _service(self, i: int) -> dict[str, Any]:
        client = FIRST_CLIENT + (i * 7 + 3) % self.clients
        due = self.day + timedelta(days=self.service_offsets[i])
        method, method_name = PAYMENT_METHODS[(i + 1) % len(PAYMENT_METHODS)]
        pid, name, group, cycle, amount = PRODUCTS[i % len(PRODUCTS)]
        return {
            **self.product_row,
            "id": str(FIRST_SERVICE + i),
            "clientid": str(client),
            "orderid": str(FIRST_ORDER + self.domains + i),
            "ordernumber": str(7_100_000_000 + i),
            "pid": pid,
            "regdate": (due - timedelta(days=365)).isoformat(),
            "name": name,
            "translated_name": name,
            "groupname": group,
            "translated_groupname": group,
            "domain": f"cliente{client}.example" if i % 4 else "",
            "firstpaymentamount": amount,
            "recurringamount": amount,
            "paymentmethod": method,
            "paymentmethodname": method_name,
            "billingcycle": cycle,
            "nextduedate": due.isoformat(),
            "status": "Active",
            "username": f"cli{client}",
        }


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    items, clients = args.renewal_items, args.renewal_clients
    delay_s = args.renewal_delay_ms / 1000
    day = date.today()
    logs = stage.out / "renewal"
    logs.mkdir(parents=True, exist_ok=True)
    small = _scan(stage, logs, "small", items // SMALL, max(1, clients // SMALL), delay_s, day)
    full = _scan(stage, logs, "full", items, clients, delay_s, day)
    return _result(small, full, args.renewal_delay_ms, day)


def _scan(stage: Stage, logs: Path, label: str, items: int, clients: int, delay_s: float, day: date) -> dict[str, Any]:
    """One scan in a child process, from an empty database; what it and the stand-in saw."""
    from tests.system.faults.stand_ins import serve

    stage.reset()  # scheduled_notices (and the day's run and RenewalScan event) emptied
    domains = round(items * DOMAIN_SHARE)
    lists = WhmcsLists(domains=domains, services=items - domains, clients=clients, day=day, delay_s=delay_s)
    print(f"  {label}: {domains} domains and {items - domains} services of {clients} clients", flush=True)
    out, err = logs / f"{label}.json", logs / f"{label}.log"
    with serve(lists.handle) as url:
        command = [
            sys.executable,
            "-m",
            "bench.renewal",
            "--child",
            "--database-url",
            stage.database_url,
            "--redis-url",
            stage.redis_url,
            "--whmcs-url",
            url,
            "--day",
            day.isoformat(),
            "--instance-path",
            str(stage.out / "instance"),
        ]
        started = time.perf_counter()
        with out.open("w") as stdout, err.open("w") as stderr:
            child = subprocess.Popen(command, cwd=REPO, env=stage.env(), stdout=stdout, stderr=stderr)
            samples = _watch(child, timeout=2 * WALL_LIMIT_S + 120)
        process_s = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"the {label} scan exited {child.returncode}; see {err}")
    measured = json.loads(out.read_text().strip().splitlines()[-1])
    if measured["errors"]:
        raise RuntimeError(f"the {label} scan reported errors: {measured['errors'][:5]}; see {err}")
    print(
        f"  {label}: {measured['wall_s']:.1f} s, {measured['calls']} calls, {measured['notices']} notices, "
        f"peak RSS {measured['vmhwm_mb']:.1f} MB",
        flush=True,
    )
    return {
        "items": items,
        "domains": domains,
        "services": items - domains,
        "clients": clients,
        "expected_notices": lists.expected_notices,
        "expected_calls": lists.expected_calls,
        "stand_in_calls": dict(lists.calls),
        "notices_in_database": _notices(stage.database_url),
        "process_s": round(process_s, 2),
        "rss_mb_every_second": samples,
        **measured,
    }


def _watch(child: subprocess.Popen[Any], timeout: float) -> list[tuple[float, float]]:
    """The child's RSS (MB) every second until it exits: (seconds since its start, MB)."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    while True:
        rss = _status_kb("VmRSS", f"/proc/{child.pid}/status")
        if rss is not None:
            samples.append((round(time.monotonic() - started, 1), round(rss / 1024, 1)))
        try:
            child.wait(timeout=1.0)
            return samples
        except subprocess.TimeoutExpired:
            if time.monotonic() - started > timeout:
                child.kill()
                child.wait()
                raise TimeoutError(f"the renewal scan did not end within {timeout:.0f} s") from None


def _notices(database_url: str) -> int:
    from sqlalchemy import func, select

    from bridge.store.db import Database
    from bridge.store.models import ScheduledNotice

    db = Database(database_url)
    try:
        with db.session() as session:
            return session.scalar(select(func.count()).select_from(ScheduledNotice)) or 0
    finally:
        db.dispose()


def _result(small: dict[str, Any], full: dict[str, Any], delay_ms: int, day: date) -> PartResult:
    from bench.stage import PartResult, Row

    size = (
        f"{full['items']:,} items ({full['domains']:,} domains, {full['services']:,} services) "
        f"of {full['clients']:,} clients"
    )
    ratio = full["vmhwm_mb"] / small["vmhwm_mb"]
    rows = [
        Row(
            "renewal",
            f"daily scan, {full['items']:,} items, WHMCS at {delay_ms} ms a call: wall time",
            full["wall_s"],
            "s",
            below=WALL_LIMIT_S,
            note=f"{size}, scan day {day}; the scan alone (the app built); the child process took "
            f"{full['process_s']:.1f} s with its start; at {small['items']:,} items {small['wall_s']:.1f} s "
            f"(target: the issue's 10 minutes)",
        ),
        Row(
            "renewal",
            "WHMCS calls (GetClientsDomains, GetClientsProducts, 250 a call)",
            full["calls"],
            "calls",
            baseline=full["expected_calls"],
            ratio=full["calls"] / full["expected_calls"],
            note=f"the stand-in counted {full['stand_in_calls']}; against the pages of the lists",
        ),
        Row(
            "renewal",
            "notices kept",
            full["notices"],
            "notices",
            baseline=full["expected_notices"],
            ratio=full["notices"] / full["expected_notices"] if full["expected_notices"] else None,
            note=f"{full['notices_in_database']:,} in scheduled_notices after the scan; against the items "
            f"due exactly on a lead day ({LEAD_SHARE:.0%} of each kind)",
        ),
        Row(
            "renewal",
            f"peak RSS of the scanning process during the scan, {small['items']:,} items",
            small["vmhwm_mb"],
            "MB",
            note=_memory_note(small),
        ),
        Row(
            "renewal",
            f"peak RSS of the scanning process during the scan, {full['items']:,} items",
            full["vmhwm_mb"],
            "MB",
            baseline=small["vmhwm_mb"],
            ratio=ratio,
            note=f"{_memory_note(full)}; sampled every second from the child's start: max "
            f"{max((mb for _, mb in full['rss_mb_every_second']), default=0.0):.1f} MB",
        ),
        Row(
            "renewal",
            f"peak RSS at {full['items']:,} items over at {small['items']:,} items",
            ratio,
            "x",
            ratio=ratio,
            below=FLAT_RATIO,
            note=f"flat memory: the full scan's peak RSS divided by the small one's (the rows above); under "
            f"{FLAT_RATIO} means ten times the items did not cost ten times the memory (one page of 250 "
            f"held at a time)",
        ),
    ]
    detail = {"scan_day": day.isoformat(), "delay_ms": delay_ms, "small": small, "full": full}
    return PartResult(rows=rows, detail=detail)


def _memory_note(run: dict[str, Any]) -> str:
    peak = (
        "VmHWM reset before the scan and read after it"
        if run["vmhwm_reset_before_scan"]
        else ("VmHWM after the scan, NOT reset before it (the kernel refused): the process's whole life")
    )
    return (
        f"{peak}; {run['rss_before_scan_mb']:.1f} MB with the app built, before the scan (the scan "
        f"added {run['vmhwm_mb'] - run['rss_before_scan_mb']:.1f} MB at its peak); the app's start-up "
        f"peaked at {run['peak_before_scan_mb']:.1f} MB (VmHWM before the reset; ru_maxrss "
        f"{run['ru_maxrss_before_scan_mb']:.1f} MB then, {run['ru_maxrss_mb']:.1f} MB after the scan)"
    )


def _status_kb(key: str, path: str = "/proc/self/status") -> int | None:
    """A `VmRSS:`-style line of /proc/<pid>/status, in kB; None once the process is gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0: `5` to clear_refs), so
    that VmHWM after the scan is the scan's own peak, not the app's start-up's (ru_maxrss
    keeps the whole life's). False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    hwm, rss = _status_kb("VmHWM"), _status_kb("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024


def child(args: argparse.Namespace) -> int:
    """Build the app as `flask renewal-scan` does, run the scan once, print what it measured
    (one JSON line)."""
    started = time.perf_counter()
    from bridge import create_app
    from bridge.scheduled.renewal_scan import run_renewal_scan
    from bridge.services import services

    app = create_app(
        {
            "BRIDGE_ENV": "development",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "INSTANCE_PATH": args.instance_path,
            "WHMCS_API_URL": args.whmcs_url,
            "WHMCS_API_IDENTIFIER": IDENTIFIER,
            "WHMCS_API_SECRET": API_SECRET,
        },
        environ={},
    )
    svc = services(app)
    built_s = time.perf_counter() - started
    rss_before, hwm_before = _status_kb("VmRSS") or 0, _status_kb("VmHWM") or 0
    maxrss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    hwm_reset = _reset_peak()
    with app.app_context():
        scan_started = time.perf_counter()
        report = run_renewal_scan(svc, date.fromisoformat(args.day))
        wall_s = time.perf_counter() - scan_started
    hwm, rss_after = _status_kb("VmHWM") or 0, _status_kb("VmRSS") or 0
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    svc.db.dispose()
    measured = {
        "wall_s": round(wall_s, 3),
        "app_built_s": round(built_s, 3),
        "calls": report.calls,
        "notices": report.notices,
        "already": report.already,
        "items_read": report.items,
        "errors": report.errors[:20],
        "rss_before_scan_mb": round(rss_before / 1024, 1),
        "peak_before_scan_mb": round(hwm_before / 1024, 1),  # the app's start-up
        "ru_maxrss_before_scan_mb": round(maxrss_before_kb / 1024, 1),
        "vmhwm_reset_before_scan": hwm_reset,
        "vmhwm_mb": round(hwm / 1024, 1),  # the scan's own peak when reset, else the process's
        "rss_after_scan_mb": round(rss_after / 1024, 1),
        "ru_maxrss_mb": round(maxrss_kb / 1024, 1),
    }
    print(json.dumps(measured), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.renewal", description="the scanning child of bench.production's part")
    parser.add_argument("--child", action="store_true", required=True, help="run one scan and print what it measured")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--whmcs-url", required=True, help="the stand-in's base URL")
    parser.add_argument("--day", required=True, help="the scan day, YYYY-MM-DD")
    parser.add_argument("--instance-path", required=True)
    return child(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
