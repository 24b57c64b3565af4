"""Part 3, delivery: WhatsApp sends per second of ONE worker process (`flask --app wsgi
worker`, the product's command) to a Twilio stand-in with no delay and no rate limit,
against RQ's own throughput for a no-op job with the same worker class, in the same run.
Target: at least half of RQ's.

An "action" here is one WhatsApp send: the job takes the Action's id, waits for its rate
slot (set far above what is reached), claims it (compare-and-set into `sending`, an
attempt row), calls Twilio through Twilio's library, and records the outcome. N
InvoiceCreated events are posted first with no worker running (routing sends them to
WhatsApp only, so every action is a WhatsApp send); the worker then runs in burst mode.
Their N plannings (three WHMCS API look-ups each, then the hooks) are all ahead in the
queue, so the plannings run first and the sends after them, one after the other; both
rates are read from when each job's work started: the plannings' attempt rows, the
sends' arrivals at the stand-in, and the no-op jobs' `started_at` in RQ.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.worker import BaseWorker
from sqlalchemy import select

from bench import pyspy
from bench.pyspy import Profile
from bench.stage import PartResult, Row, Stage, invoice_created, post_all, providers, wait_for
from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import State
from bridge.store.db import Database
from bridge.store.models import Action, Attempt
from tests.system.faults.stand_ins import TwilioStandIn, WhmcsApiStandIn

TARGET = 0.5
NOOP_QUEUE = "bench-noop"
WORKER = ["flask", "--app", "wsgi", "worker", "--burst"]


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()
    count: int = args.delivery_actions
    folder = stage.out / "delivery"
    with providers() as (twilio, whmcs, settings):
        env = stage.env(
            **settings,
            RATE_LIMIT_WHATSAPP_PER_SECOND=10000,  # the settings' maximum: no wait for a slot
            RATE_LIMIT_EMAIL_PER_SECOND=10000,
            BRIDGE_CONFIG_DIR=whatsapp_only_config(folder / "config"),
        )
        _post(stage, env, "delivery-posting", [invoice_created(i, whmcs, "delivery") for i in range(count)])
        with stage.cluster("delivery-worker", env) as cluster:
            worker_wall = cluster.run_to_end("worker", WORKER, timeout=600 + count)
        sends = sorted(r.at for r in twilio.accepted())
        plans = _plan_starts(stage.database_url)
        _check(stage.database_url, count, len(sends))
        worker_class = product_worker_class()
        noop, noop_wall = _noop_baseline(stage, env, worker_class, count)
        send_rate, plan_rate, noop_rate = _rate(sends), _rate(plans), _rate(noop)
        profiles = {}
        if args.profile:
            # Enough sends to keep the worker busy while it is sampled.
            batch = max(count, int(args.profile_seconds * send_rate * 1.3))
            profile = _profile(stage, env, (twilio, whmcs), batch, args.profile_seconds)
            profiles["delivery: one worker sending, wall clock"] = profile
    ratio = send_rate / noop_rate
    rows = [
        Row(
            "delivery",
            "WhatsApp sends / s, 1 worker",
            send_rate,
            "/s",
            baseline=noop_rate,
            ratio=ratio,
            at_least=TARGET,
            note=f"RQ no-op jobs/s with {worker_class.rsplit('.', 1)[1]}",
        ),
        Row(
            "delivery",
            "plannings / s, 1 worker",
            plan_rate,
            "/s",
            baseline=noop_rate,
            ratio=plan_rate / noop_rate,
            note="3 WHMCS API look-ups each; no target",
        ),
    ]
    detail = {
        "actions": count,
        "worker_class": worker_class,
        "whatsapp_sends_per_second": round(send_rate, 2),
        "plannings_per_second": round(plan_rate, 2),
        "noop_jobs_per_second": round(noop_rate, 2),
        "worker_wall_seconds": round(worker_wall, 2),
        "noop_worker_wall_seconds": round(noop_wall, 2),
        "whmcs_api_calls": whmcs.calls,
    }
    return PartResult(rows=rows, detail=detail, profiles=profiles)


def whatsapp_only_config(folder: Path) -> Path:
    """A copy of config/ whose routing sends InvoiceCreated to WhatsApp alone."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    routing = folder / "routing.toml"
    text, found = re.subn(
        r"(\[events\.InvoiceCreated\]\s*\nchannels\s*=\s*)\[[^\]]*\]", r'\1["whatsapp"]', routing.read_text()
    )
    if found != 1:
        raise RuntimeError(f"no [events.InvoiceCreated] channels line in {routing}")
    routing.write_text(text)
    return folder


def product_worker_class() -> str:
    """The dotted name of the RQ worker class `flask --app wsgi worker` runs, read from
    bridge/cli.py now (it may change), so that the no-op baseline runs the same class."""
    from bridge import cli

    found = _worker_class_in(cli.worker_command.callback, depth=2)
    if found is None:
        raise RuntimeError("could not tell which RQ worker class bridge.cli's worker command runs")
    return f"{found.__module__}.{found.__qualname__}"


def _worker_class_in(function: Any, depth: int) -> type | None:
    """The first BaseWorker subclass `function` calls, looking `depth` calls deep."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    imported = {
        alias.asname or alias.name: f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    module = importlib.import_module(function.__module__)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        target = _resolve(imported[node.func.id]) if node.func.id in imported else getattr(module, node.func.id, None)
        if isinstance(target, type) and issubclass(target, BaseWorker):
            return target
        if depth > 0 and inspect.isfunction(target) and not target.__module__.startswith(("builtins", "click")):
            deeper = _worker_class_in(target, depth - 1)
            if deeper is not None:
                return deeper
    return None


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _post(stage: Stage, env: dict[str, str], name: str, posts: list) -> None:
    with stage.cluster(name, env) as cluster:
        cluster.start_web()
        post_all(cluster.web_url, posts)


def _plan_starts(database_url: str) -> list[float]:
    db = Database(database_url)
    try:
        with db.session() as session:
            started = session.scalars(
                select(Attempt.started_at).join(Action, Action.id == Attempt.action_id).where(Action.channel == "plan")
            ).all()
    finally:
        db.dispose()
    return sorted(when.timestamp() for when in started)


def _check(database_url: str, count: int, sent: int) -> None:
    """Every planned WhatsApp message was sent once: the rate is of real work."""
    db = Database(database_url)
    try:
        with db.session() as session:
            states = session.execute(select(Action.channel, Action.state)).all()
    finally:
        db.dispose()
    whatsapp = [state for channel, state in states if channel == "whatsapp"]
    unfinished = [state for _, state in states if state != State.SENT]
    if len(whatsapp) != count or sent != count or unfinished:
        raise RuntimeError(
            f"expected {count} WhatsApp actions sent: {len(whatsapp)} planned, {sent} reached Twilio, "
            f"{len(unfinished)} actions not sent ({sorted(set(unfinished))})"
        )


def _noop_baseline(stage: Stage, env: dict[str, str], worker_class: str, count: int) -> tuple[list[float], float]:
    """`rq worker --burst` with the product's worker class over `count` no-op jobs."""
    redis = Redis.from_url(stage.redis_url)
    queue = Queue(NOOP_QUEUE, connection=redis)
    # Kept after they ran (the product's jobs are not: result_ttl=0), to read started_at.
    jobs = [queue.enqueue_call("bench.noop.noop", result_ttl=3600) for _ in range(count)]
    # At WARNING, as the bridge's worker runs RQ: a log line per job is not RQ's cost.
    args = ["rq.cli", "worker", "--burst", "--worker-class", worker_class, "--logging_level", "WARNING"]
    args += ["--url", stage.redis_url, NOOP_QUEUE]
    with stage.cluster("delivery-noop", env) as cluster:
        wall = cluster.run_to_end("noop-worker", args, timeout=600 + count)
    fetched = Job.fetch_many([job.id for job in jobs], connection=redis)
    starts = [job.started_at for job in fetched if job is not None and job.started_at is not None]
    if len(starts) != count:
        raise RuntimeError(f"RQ ran {len(starts)} of {count} no-op jobs")
    return sorted(when.timestamp() for when in starts), wall  # only differences are used


def _rate(starts: list[float]) -> float:
    """Jobs per second in the steady state: intervals between the first and last start."""
    if len(starts) < 2 or starts[-1] <= starts[0]:
        return float("nan")
    return (len(starts) - 1) / (starts[-1] - starts[0])


def _profile(
    stage: Stage, env: dict[str, str], servers: tuple[TwilioStandIn, WhmcsApiStandIn], batch: int, seconds: int
) -> Profile:
    """A second batch like the measured one; once its sends have begun (the plannings run
    first), py-spy samples the worker for `seconds`, waits on sockets included: one
    worker makes its jobs' database, Redis and provider calls one after the other."""
    twilio, whmcs = servers
    stage.reset()
    _post(stage, env, "delivery-profile-posting", [invoice_created(i, whmcs, "profile") for i in range(batch)])
    before = len(twilio.requests)
    raw = stage.out / "delivery" / "profile.raw"
    with stage.cluster("delivery-profile", env) as cluster:
        cluster.start_workers(1)
        wait_for(lambda: len(twilio.requests) > before, 60 + batch, "the worker sent nothing")
        sampler = pyspy.attach(cluster.workers[0].pid, seconds, raw, idle=True)
        sampler.wait(timeout=seconds + 60)
    return pyspy.top_frames(raw, within="worker_command (bridge/cli.py)")  # the thread that runs jobs
