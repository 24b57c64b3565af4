"""What every part of the production benchmark stands on: the database and Redis it empties,
the environment the bridge's processes get, the processes themselves (started the way the
fault suite starts them, with the production gunicorn config), and a result row.

The bridge's own processes are started from the repository as in production
(`gunicorn -c deploy/gunicorn.conf.py wsgi:app`, `flask --app wsgi worker`, `... relay`);
the stand-ins for Twilio and WHMCS's API are the fault suite's, in threads of this process.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.logpage import ensure_database
from bench.pyspy import Profile
from bridge.core.settings import Settings
from bridge.store.db import Database
from bridge.store.migrate import upgrade
from tests.helpers import REPO, SECRET, approve_every_template, load_sample, wait_until_healthy
from tests.support.prism import free_port
from tests.system.faults import harness, stand_ins

GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
RESULTS = REPO / "bench" / "results"
PROGRESS_EVERY = 15.0  # seconds between a long part's progress lines
# Every variable the bridge reads: taken out of the inherited environment, so that a
# developer's shell never changes what is measured.
BRIDGE_VARIABLES = frozenset(f.name.upper() for f in dataclasses.fields(Settings))


@dataclass
class Row:
    """One line of the table: a measurement, what it is compared with, and the target."""

    part: str
    measure: str
    measured: float
    unit: str
    baseline: float | None = None  # the ceiling, the ideal or the direct cost
    ratio: float | None = None
    at_least: float | None = None  # target: ratio >= at_least
    below: float | None = None  # target: measured < below
    note: str = ""

    @property
    def target(self) -> str:
        if self.at_least is not None:
            return f">= {self.at_least:.0f}x" if self.at_least >= 2 else f">= {self.at_least:.2f}"
        return f"< {self.below:g} {self.unit}" if self.below is not None else ""

    @property
    def met(self) -> bool | None:
        if self.at_least is not None:
            return self.ratio is not None and self.ratio >= self.at_least
        return self.measured < self.below if self.below is not None else None

    def miss(self) -> str:
        """By how much a missed target was missed; empty when met or without a target."""
        if self.met is not False:
            return ""
        if self.at_least is not None and self.ratio:
            return (
                f"ratio {self.ratio:.2f} against {self.target}: {self.ratio / self.at_least:.0%} of the target, "
                f"{self.at_least / self.ratio:.1f}x short"
            )
        if self.below is not None:
            return f"{self.measured:.1f} {self.unit} against {self.target}: {self.measured / self.below:.1f}x over"
        return "no ratio (nothing measured)"


@dataclass
class PartResult:
    rows: list[Row] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)


@dataclass
class Stage:
    """The database, Redis and folders of one benchmark run."""

    database_url: str
    redis_url: str
    out: Path  # this run's logs, profiles and stand-in files

    @property
    def postgres(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    def prepare(self) -> None:
        """Create the database if missing and bring it to the migrations' head."""
        if self.postgres:
            ensure_database(self.database_url)
        db = Database(self.database_url)
        try:
            upgrade(db)
        finally:
            db.dispose()

    def reset(self) -> None:
        """Empty the bridge's tables and the Redis database: each part starts from nothing
        but the approved WhatsApp templates."""
        db = Database(self.database_url)
        try:
            with db.engine.begin() as connection:
                if self.postgres:
                    names = connection.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                            "AND tablename <> 'alembic_version'"
                        )
                    ).scalars()
                    quoted = ", ".join(f'"{name}"' for name in names)
                    connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
                else:
                    names = connection.execute(
                        text(
                            "SELECT name FROM sqlite_master WHERE type = 'table' "
                            "AND name NOT IN ('alembic_version', 'sqlite_sequence')"
                        )
                    ).scalars()
                    for name in list(names):
                        connection.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608 - names from the catalogue
        finally:
            db.dispose()
        Redis.from_url(self.redis_url).flushdb()
        # As in production: every WhatsApp notice has an approved template (else the
        # bridge sends nothing free-form outside the customer's 24-hour window).
        approve_every_template(self.database_url)

    def env(self, **settings: object) -> dict[str, str]:
        """The environment of the bridge's processes: production defaults, with `settings` on top."""
        inherited = {k: v for k, v in os.environ.items() if k not in BRIDGE_VARIABLES}
        base = {
            # development: the production check wants SMTP, and email stays a dry run here
            "BRIDGE_ENV": "development",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "WHMCS_WEBHOOK_SECRET": SECRET,
            "INSTANCE_PATH": str(self.out / "instance"),
        }
        return {**inherited, **base, **{k: str(v) for k, v in settings.items()}}

    @contextmanager
    def cluster(self, name: str, env: dict[str, str]) -> Iterator[BenchCluster]:
        """Processes whose logs go to <out>/<name>/; all of them stopped on the way out."""
        logs = self.out / name
        logs.mkdir(parents=True, exist_ok=True)
        cluster = BenchCluster(env=env, logs=logs)
        try:
            yield cluster
        finally:
            cluster.stop()


@contextmanager
def providers() -> Iterator[tuple[stand_ins.TwilioStandIn, stand_ins.WhmcsApiStandIn, dict[str, str]]]:
    """Twilio's Messages API and WHMCS's API stood in (the fault suite's servers, no faults
    switched on), and the settings that point the bridge at them: planning looks each
    client up in WHMCS, and each WhatsApp message goes through Twilio's own library."""
    twilio, whmcs = stand_ins.TwilioStandIn(), stand_ins.WhmcsApiStandIn()
    with stand_ins.serve(twilio.handle) as twilio_url, stand_ins.serve(whmcs.handle) as whmcs_url:
        yield (
            twilio,
            whmcs,
            {
                "TWILIO_ACCOUNT_SID": stand_ins.ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": stand_ins.AUTH_TOKEN,
                "TWILIO_WHATSAPP_FROM": "+14155238886",
                "TWILIO_API_BASE": twilio_url,
                "WHMCS_API_URL": whmcs_url,
                "WHMCS_API_IDENTIFIER": stand_ins.WHMCS_IDENTIFIER,
                "WHMCS_API_SECRET": stand_ins.WHMCS_SECRET,
            },
        )


class BenchCluster(harness.Cluster):
    """The fault suite's process set, started piece by piece and with the production
    gunicorn config (4 sync workers on 2 cores) instead of the suite's two."""

    def start_web(self, app: str = "wsgi:app") -> None:
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        self.env = {**self.env, "BIND": f"127.0.0.1:{port}"}
        self.web = self._spawn("web", ["gunicorn", "--config", str(GUNICORN_CONF), app])
        wait_until_healthy(self.web_url, see=f"{self.logs}/web.log")

    def start_workers(self, count: int) -> None:
        self.workers = [self._spawn_worker(slot) for slot in range(count)]

    def start_relay(self) -> None:
        self.relay = self._spawn("relay", ["flask", "--app", "wsgi", "relay"])

    def run_to_end(self, name: str, args: list[str], timeout: float) -> float:
        """Run one process (`python -m <args>`) until it exits; returns its wall time."""
        started = time.perf_counter()
        process = self._spawn(name, args)
        code = process.wait(timeout=timeout)
        if code != 0:
            raise RuntimeError(f"{' '.join(args)} exited {code}; see {self.logs}/{name}.log")
        return time.perf_counter() - started

    def web_processes(self) -> list[int]:
        """The gunicorn workers (the master only forks and watches them)."""
        return harness._children(self.web.pid) if self.web else []


def wait_for(check: Callable[[], bool], timeout: float, failure: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(every)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99 for p99) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


def invoice_created(number: int, whmcs: stand_ins.WhmcsApiStandIn, run_id: str) -> harness.Planned:
    """The month's invoice `number`: its own client (so its own phone) and invoice, the
    invoice registered with the WHMCS stand-in so that planning finds its owner."""
    client, invoice = harness.FIRST_CLIENT + number, harness.FIRST_INVOICE + number
    whmcs.invoice_owner[invoice] = client
    params = {**load_sample("whmcs_hooks", "InvoiceCreated"), "invoiceid": invoice}
    return harness.Planned("whmcs", "InvoiceCreated", f"bench-{run_id}-invoice-{number}", params, client)


def post_all(web_url: str, posts: list[harness.Planned]) -> harness.Load:
    """Post everything from the fault suite's four sender threads, without its pacing."""
    load = harness.Load(web_url, pagos360_token="", posts=posts, max_open=len(posts) * 10 + 100)
    load.run()
    if load.error is not None:
        raise load.error
    return load


def workers_ready(redis_url: str, count: int) -> float:
    """Wait until `count` RQ workers listen (a worker takes seconds to import the bridge): a
    paced part's events meet a running bridge, as on a busy day, not its start. The wait."""
    from rq import Worker

    started = time.monotonic()
    redis = Redis.from_url(redis_url)
    wait_for(lambda: len(Worker.all(connection=redis)) >= count, 60, f"{count} RQ workers did not start", 0.2)
    return time.monotonic() - started


def settle(
    cluster: BenchCluster,
    database_url: str,
    timeout: float = 30.0,
    *,
    every: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Wait until every Action is final, so the states a part reports are the end's; False
    after `timeout` seconds. `progress` is told how many are still open about once a minute."""
    from sqlalchemy import func, select

    from bridge.core.states import FINAL
    from bridge.store.models import Action

    db = Database(database_url)
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + PROGRESS_EVERY * 4
    try:
        while True:
            with db.session() as session:
                open_actions = session.scalar(
                    select(func.count()).select_from(Action).where(Action.state.not_in(list(FINAL)))
                )
            if not open_actions:
                return True
            if time.monotonic() > deadline:
                return False
            if progress is not None and time.monotonic() >= next_report:
                next_report += PROGRESS_EVERY * 4
                progress(open_actions or 0)
            cluster.supervise()
            time.sleep(every)
    finally:
        db.dispose()


def latency_summary(values: list[float], expected: int, missing_label: str) -> dict[str, Any]:
    """count, min, p50, p90, p99, max (seconds) of what was measured, and how many of the
    `expected` have no value (under `missing_label`); the percentiles count a missing one as
    infinite ("never")."""
    missing = expected - len(values)
    every = sorted(values) + [math.inf] * missing
    if not every:
        return {"count": 0, missing_label: 0}
    return {
        "count": len(values),
        "min": round(min(values), 4) if values else None,
        "p50": rounded(percentile(every, 0.50)),
        "p90": rounded(percentile(every, 0.90)),
        "p99": rounded(percentile(every, 0.99)),
        "max": rounded(every[-1]),
        missing_label: missing,
    }


def rounded(value: float) -> float | str:
    return "never" if math.isinf(value) else round(value, 4)


@dataclass(frozen=True)
class PacedPost:
    """One signed WHMCS event for `post_paced`; `key` files its times in `Posting`."""

    key: int
    event: str
    params: dict[str, Any]
    webhook_id: str
    label: str  # names it in an error


@dataclass
class Posting:
    """What the poster thread did; times are epoch seconds, by PacedPost.key."""

    sent: dict[int, float] = field(default_factory=dict)  # the post left
    answered: dict[int, float] = field(default_factory=dict)  # its 202 arrived
    behind: int = 0  # posts that left more than 50 ms after their slot
    started: float = 0.0
    finished: float = 0.0
    error: BaseException | None = None


def post_paced(web_url: str, posts: list[PacedPost], rate: float, posting: Posting) -> None:
    """Post post n in its slot (first + n / rate) from this one thread, each signed as WHMCS
    signs it; the bridge must answer 202. A slow answer delays the next posts. Run it in a
    thread: an error is kept in `posting` for the main thread to raise."""
    import requests

    from bridge.inbound.signing import signed_request

    session = requests.Session()
    url = f"{web_url}/webhooks/whmcs"
    posting.started = time.time()
    first = time.monotonic()
    try:
        for n, post in enumerate(posts):
            body, headers = signed_request(SECRET, post.event, post.params, webhook_id=post.webhook_id)
            wait = first + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.05:
                posting.behind += 1
            sent = time.time()
            response = session.post(url, data=body, headers=headers, timeout=10)
            answered = time.time()
            if response.status_code != 202:
                raise RuntimeError(f"{post.label}: {response.status_code} {response.text[:300]}")
            posting.sent[post.key] = sent
            posting.answered[post.key] = answered
    except Exception as exc:  # noqa: BLE001 - raised again in the main thread
        posting.error = exc
    finally:
        posting.finished = time.time()


def drive_paced(
    cluster: BenchCluster,
    posts: list[PacedPost],
    rate: float,
    arrived: Callable[[], int],
    timeout: float,
    what: str,
) -> Posting:
    """Post from a thread (post_paced) and return once the poster is done and `arrived()`
    counts every post's outcome, or at the timeout (the rest are reported missing by the
    part). `what` names the outcome in the progress lines, e.g. "accepted"."""
    import threading

    posting = Posting()
    poster = threading.Thread(target=post_paced, args=(cluster.web_url, posts, rate, posting), daemon=True)
    poster.start()
    started = time.monotonic()
    deadline, next_report = started + timeout, started + PROGRESS_EVERY
    while True:
        time.sleep(0.5)
        cluster.supervise()  # a worker that died is restarted and counted, as systemd would
        if posting.error is not None:
            raise posting.error
        done = arrived()
        if not poster.is_alive() and done == len(posts):
            return posting
        if time.monotonic() > deadline:
            print(f"  timed out after {timeout:.0f} s: {len(posts) - done} not {what}", flush=True)
            poster.join(timeout=15)
            return posting
        if time.monotonic() >= next_report:
            next_report += PROGRESS_EVERY
            print(f"  {time.monotonic() - started:6.0f} s  posted {len(posting.sent)}  {what} {done}", flush=True)
