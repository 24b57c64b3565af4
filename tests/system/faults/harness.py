"""The processes under test (web, two workers, the relay), the load, and the faults.

Everything here drives real processes from the outside, as an operator's bad day would:
SIGKILL to a worker's process group, FLUSHDB (and, on the embedded Redis, a crash of
redis-server and a restart), PostgreSQL's pg_terminate_backend. Nothing in the bridge is
patched or told that a fault is coming.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import requests
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bridge.core.events import WHMCS_EVENTS
from bridge.inbound.signing import signed_request
from bridge.ops.redis_embedded import ensure_embedded_redis
from tests.helpers import REPO, SECRET, load_sample, wait_until_healthy
from tests.support.prism import free_port
from tests.system.faults.stand_ins import client_email, client_phone, client_whatsapp

# Every WHMCS hook the bridge handles, with the recorded sample of each as its parameters.
# Every WHMCS event but the staff's ticket answer, which reaches a customer only for a ticket
# opened on WhatsApp (tests/hooks/test_whatsapp_tickets.py): the load the suite has always had.
# The events the load is made of: those that tell one client on WhatsApp and email, each post
# its own client. Left out: the staff answer to a ticket, and the events stored under their
# own key (bridge.core.event_keys: a recorded sample posted again is the same happening) or
# heard by staff only, whose look-ups (orders, a WHMCS user's clients) this stand-in does not
# model per client.
WHMCS_TYPES = (
    "ClientAdd",
    "ClientChangePassword",
    "ClientEdit",
    "InvoiceCreated",
    "InvoiceCreation",
    "InvoiceCancelled",
    "InvoicePaid",
    "AfterModuleSuspend",
    "AfterModuleUnsuspend",
    "AfterModuleTerminate",
    "AfterModuleCreate",
    "QuoteCreated",
    "DomainDelete",
)
assert set(WHMCS_TYPES) <= set(WHMCS_EVENTS)
SILENT_TYPES = frozenset({"InvoiceCreation"})  # routing.toml: channels = [] (drafts)
FIRST_CLIENT, FIRST_DEBIT_CLIENT = 100_000, 200_000
FIRST_INVOICE, FIRST_DEBIT_INVOICE = 500_000, 900_000
FIRST_DEBIT_REQUEST = 600_000


# -- processes ---------------------------------------------------------------------------


def worker_name(pid: int) -> str:
    """The RQ worker name `flask --app wsgi worker` gives itself (bridge/cli.py)."""
    return f"bridge-{socket.gethostname()}-{pid}"


@dataclass
class Cluster:
    """gunicorn (2 processes), two RQ workers and the relay, each with its log file."""

    env: dict[str, str]
    logs: Path
    web_url: str = ""
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    relay: subprocess.Popen[bytes] | None = None
    worker_count: int = 2
    killed: list[str] = field(default_factory=list)  # worker names we SIGKILLed
    unexpected_exits: list[str] = field(default_factory=list)
    _files: list[TextIO] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("a")
        self._files.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO,
            env=self.env,
            start_new_session=True,  # its own process group: a kill takes anything it started
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.web = self._spawn("web", ["gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"])
        self.workers = [self._spawn_worker(i) for i in range(self.worker_count)]
        self.relay = self._spawn("relay", ["flask", "--app", "wsgi", "relay"])
        wait_until_healthy(self.web_url, see=str(self.logs / "web.log"))

    def _spawn_worker(self, slot: int) -> subprocess.Popen[bytes]:
        return self._spawn(f"worker-{slot}", ["flask", "--app", "wsgi", "worker"])

    def kill_worker(self, slot: int) -> str:
        """SIGKILL a worker, whatever it is doing, and anything it started; start a new one.

        The worker runs its jobs in its own process (RQ's SimpleWorker, bridge/cli.py), so a
        kill mid-job takes the job with it, as a machine or container dying would. It is
        stopped first and its children collected, so that nothing it forked survives."""
        with self._lock:
            process = self.workers[slot]
            name = worker_name(process.pid)
            try:
                os.kill(process.pid, signal.SIGSTOP)
                children = _children(process.pid)
                os.killpg(process.pid, signal.SIGKILL)
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            self.killed.append(name)
            self.workers[slot] = self._spawn_worker(slot)
            return name

    def kill_all_workers(self) -> list[str]:
        """Every worker at once: the machine they run on dies."""
        return [self.kill_worker(slot) for slot in range(len(self.workers))]

    def supervise(self) -> None:
        """Restart a worker that exited by itself (as systemd's Restart= would), and say so."""
        with self._lock:
            for slot, process in enumerate(self.workers):
                if process.poll() is not None:
                    self.unexpected_exits.append(f"{worker_name(process.pid)} exit {process.returncode}")
                    self.workers[slot] = self._spawn_worker(slot)
            for name, process in (("web", self.web), ("relay", self.relay)):
                if process is not None and process.poll() is not None:
                    raise AssertionError(f"the {name} process exited ({process.returncode}); see {self.logs}")

    def stop(self) -> None:
        with self._lock:
            for process in [*self.workers, self.relay, self.web]:
                if process is None or process.poll() is not None:
                    continue
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
            for process in [*self.workers, self.relay, self.web]:
                if process is None:
                    continue
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            for log in self._files:
                log.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


# -- the load ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One inbound post: a signed WHMCS event, or a Pagos360 notification."""

    kind: str  # "whmcs" or "pagos360"
    event_type: str
    key: str  # the webhook id, or the notification's entity id
    body: dict[str, Any]
    client_id: int

    @property
    def whatsapp_to(self) -> str | None:
        if self.kind == "whmcs" and self.event_type not in SILENT_TYPES:
            return client_whatsapp(self.client_id)
        return None


def whmcs_event(i: int, whmcs: Any) -> Planned:
    """Event number i: its own client (so its own phone number and email), invoice, quote..."""
    event_type = WHMCS_TYPES[i % len(WHMCS_TYPES)]
    client = FIRST_CLIENT + i
    params = load_sample("whmcs_hooks", event_type)
    flat = params["params"] if isinstance(params.get("params"), dict) else params
    person = {"email": client_email(client), "phonenumber": client_phone(client)}
    if "userid" in flat:
        flat["userid"] = client
    if "client_id" in flat:
        flat["client_id"] = client
    if event_type in ("ClientAdd", "ClientEdit"):
        flat.update(person)
    if isinstance(flat.get("clientsdetails"), dict):
        flat["clientsdetails"].update(userid=client, id=client, **person)
    if "invoiceid" in flat:
        flat["invoiceid"] = FIRST_INVOICE + i
        whmcs.invoice_owner[FIRST_INVOICE + i] = client
    if "quoteid" in flat:
        flat["quoteid"] = 700_000 + i
        whmcs.quote_owner[700_000 + i] = client
    if "serviceid" in flat:
        flat["serviceid"] = flat["accountid"] = 300_000 + i
    if "domainid" in flat:
        flat["domainid"] = 800_000 + i
    return Planned("whmcs", event_type, f"msg_fault_{i:06d}", params, client)


def debit_paid(j: int, whmcs: Any, p360: Any) -> Planned:
    """A paid card debit request of its own client, for its own invoice, in the Pagos360 stand-in."""
    client, invoice, request_id = FIRST_DEBIT_CLIENT + j, FIRST_DEBIT_INVOICE + j, FIRST_DEBIT_REQUEST + j
    debit = json.loads(json.dumps(p360.debit_requests[553201]))
    debit.update(id=request_id, metadata={"whmcs_invoice_id": invoice}, description=f"Factura A-{invoice}")
    debit["card_adhesion"]["external_reference"] = f"whmcs-client-{client}"
    debit["request_result"] = [{**debit["request_result"][0], "id": request_id + 40_000}]
    p360.debit_requests[request_id] = debit
    whmcs.invoice_owner[invoice] = client
    body = load_sample("pagos360", "webhook.card_debit_request.paid")
    body.update(entity_id=request_id)
    body["payload"].update(id=request_id, external_reference=f"whmcs-client-{client}")
    return Planned("pagos360", "card_debit_request", str(request_id), body, client)


@dataclass
class Load:
    """Posts everything the way the senders do: WHMCS's hook file (and its spool) sends a
    refused or unanswered post again with the same id, and Pagos360 resends a notification
    that was not answered 2xx. Paced by the bridge: while more than `max_open` Actions wait
    (`open_actions`, kept up to date by the test), it holds back, so the faults, which are
    timed by the load's progress, fall while the bridge is busy rather than on a backlog."""

    web_url: str
    pagos360_token: str
    posts: list[Planned]
    max_open: int = 300
    timeout: float = 900.0
    open_actions: int = 0
    sent: int = 0
    event_ids: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    resent: int = 0
    finished_at: float = 0.0
    error: BaseException | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def progress(self) -> float:
        return self.sent / max(len(self.posts), 1)

    def run(self) -> None:
        """Post everything from four sender threads; returns when all were accepted."""
        self._deadline = time.monotonic() + self.timeout
        self._next = iter(self.posts)
        senders = [threading.Thread(target=self._sender, daemon=True) for _ in range(4)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        self.finished_at = time.monotonic()

    def _sender(self) -> None:
        session = requests.Session()
        try:
            while self.error is None:
                while self.open_actions > self.max_open:
                    if time.monotonic() > self._deadline:
                        raise AssertionError(
                            f"the load did not finish in {self.timeout:.0f}s: {self.sent} of {len(self.posts)} "
                            f"posted, {self.open_actions} Actions waiting"
                        )
                    time.sleep(0.05)
                with self._lock:
                    planned = next(self._next, None)
                    if planned is None:
                        return
                    self.sent += 1
                    self.open_actions += 2  # until the test counts again: a post plans about two
                self._post(session, planned)
        except BaseException as exc:  # reported by the test, which waits for this thread
            self.error = exc

    def _post(self, session: requests.Session, planned: Planned) -> None:
        for attempt in range(60):
            try:
                if planned.kind == "whmcs":
                    body, headers = signed_request(SECRET, planned.event_type, planned.body, webhook_id=planned.key)
                    response = session.post(f"{self.web_url}/webhooks/whmcs", data=body, headers=headers, timeout=10)
                else:
                    url = f"{self.web_url}/webhooks/pagos360/{self.pagos360_token}"
                    response = session.post(url, json=planned.body, timeout=10)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in (200, 202):
                with self._lock:
                    self.event_ids.setdefault((planned.kind, planned.key), set()).add(response.json()["event_id"])
                return
            if response is not None and response.status_code < 500:
                raise AssertionError(f"{planned.kind} {planned.key}: {response.status_code} {response.text[:300]}")
            with self._lock:
                self.resent += 1
            time.sleep(min(0.1 * 2**attempt, 2.0))
        raise AssertionError(f"{planned.kind} {planned.key} was never accepted")


# -- the faults --------------------------------------------------------------------------


@dataclass
class FaultLog:
    started: float
    entries: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: str, **detail: Any) -> None:
        with self._lock:
            self.entries.append({"at_s": round(time.monotonic() - self.started, 2), "fault": fault, **detail})


def empty_redis(redis_url: str, embedded: bool, log: FaultLog) -> None:
    """FLUSHDB; on the embedded Redis also crash redis-server (SIGKILL) and start it again."""
    Redis.from_url(redis_url).flushdb()
    if not embedded:
        log.add("redis emptied (FLUSHDB; the system Redis is never restarted)")
        return
    folder = Path(redis_url.removeprefix("unix://")).parent
    pid = int((folder / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    time.sleep(0.5)  # down for a moment: posts and workers meet a dead socket
    ensure_embedded_redis(folder.parent)
    log.add("redis emptied (FLUSHDB) and restarted (SIGKILL, then a new redis-server)", pid=pid)


def drop_database_connections(database_url: str, log: FaultLog) -> int:
    """Every other connection to the test database is terminated by the server."""
    engine = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    log.add("database connections dropped (pg_terminate_backend)", connections=len(dropped))
    return len(dropped)


def schedule(rng: random.Random) -> list[tuple[float, str]]:
    """When each fault happens, as a share of the load posted."""
    plan = [(rng.uniform(0.02, 0.98), "kill") for _ in range(5)]
    plan += [(rng.uniform(0.15, 0.35), "redis"), (rng.uniform(0.6, 0.85), "redis")]
    plan += [(rng.uniform(0.25, 0.45), "whmcs_down"), (rng.uniform(0.1, 0.9), "db_drop")]
    plan += [(rng.uniform(0.5, 0.7), "crash_after_accept")]
    return sorted(plan)


def run_faults(plan: list[tuple[float, str]], load: Load, actions: dict[str, Callable[[], None]]) -> None:
    for share, name in plan:
        while load.progress < share and load.finished_at == 0.0:
            time.sleep(0.05)
        actions[name]()
