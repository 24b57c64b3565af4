"""Part 4, the monthly invoice run: --monthly-events InvoiceCreated events (10,000 by
default), each for its own client, posted by four concurrent posters as fast as the bridge
takes them, as the panel's cron does on invoice day. The bridge runs as in production:
gunicorn with the production config, two workers, the relay, the default settings (the
WhatsApp rate among them: RATE_LIMIT_WHATSAPP_PER_SECOND, 10/s), WHMCS's API and Twilio
stood in. Email has no SMTP server here: it is a dry run, which is not paced.

Measured: the time from the first post until the last WhatsApp message reaches the Twilio
stand-in, against the ideal, messages / rate (target: ideal / measured >= 0.95, the rate limit
kept fed). The timeline says where the rest went
(posting, planning, sending); the memory part reads the processes at the end.
"""

from __future__ import annotations

import argparse
import threading
import time

from sqlalchemy import func, select

from bench import memory
from bench.stage import PROGRESS_EVERY, BenchCluster, PartResult, Row, Stage, invoice_created, post_all, providers
from bridge.core.settings import load_settings
from bridge.core.states import FINAL
from bridge.store.db import Database
from bridge.store.models import Action, ActionTransition, Attempt
from tests.system.faults.stand_ins import TwilioStandIn

TARGET = 0.95  # the last WhatsApp within 1/0.95 of the ideal time: the rate limit kept fed


def run(stage: Stage, args: argparse.Namespace, with_memory: bool) -> list[PartResult]:
    stage.reset()
    count: int = args.monthly_events
    rate = args.monthly_rate or _default_rate(stage)
    with providers() as (twilio, whmcs, settings):
        if args.monthly_rate:
            settings["RATE_LIMIT_WHATSAPP_PER_SECOND"] = args.monthly_rate
        posts = [invoice_created(i, whmcs, "monthly") for i in range(count)]
        with stage.cluster("monthly", stage.env(**settings)) as cluster:
            cluster.start_web()
            cluster.start_workers(2)
            cluster.start_relay()
            timeline = _drive(cluster, stage.database_url, posts, twilio, timeout=count / rate * 3 + 300)
            parts = [_result(stage.database_url, timeline, twilio, count, rate)]
            if with_memory:
                parts.append(memory.measure(cluster, stage.database_url))
    return parts


def _default_rate(stage: Stage) -> float:
    """The WhatsApp rate the bridge runs at when nothing is configured."""
    settings = load_settings({"DATABASE_URL": stage.database_url, "REDIS_URL": stage.redis_url}, environ={})
    return settings.rate_limit_whatsapp_per_second


def _drive(
    cluster: BenchCluster, database_url: str, posts: list, twilio: TwilioStandIn, timeout: float
) -> dict[str, float]:
    """Post everything from a thread; return when every Action is final. Times are epoch seconds."""
    timeline: dict[str, float] = {"first_post": time.time()}
    failure: list[BaseException] = []

    def post() -> None:
        try:
            post_all(cluster.web_url, posts)
        except Exception as exc:  # noqa: BLE001 - raised again below, in the main thread
            failure.append(exc)
        timeline["posted"] = time.time()

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    db = Database(database_url)
    deadline, next_report = time.monotonic() + timeout, time.monotonic() + PROGRESS_EVERY
    try:
        while True:
            time.sleep(1.0)
            cluster.supervise()  # a worker that died is restarted and counted, as systemd would
            if failure:
                raise failure[0]
            open_actions, total = _open_actions(db)
            if "posted" in timeline and total and open_actions == 0:
                timeline["all_final"] = time.time()
                return timeline
            if time.monotonic() > deadline:
                raise TimeoutError(f"monthly run not finished in {timeout:.0f}s: {open_actions} actions open")
            if time.monotonic() >= next_report:
                next_report += PROGRESS_EVERY
                elapsed = time.time() - timeline["first_post"]
                print(
                    f"  {elapsed:6.0f} s  posted {'all' if 'posted' in timeline else '...'}  "
                    f"WhatsApp sent {len(twilio.accepted())}  actions open {open_actions}",
                    flush=True,
                )
    finally:
        db.dispose()


def _open_actions(db: Database) -> tuple[int, int]:
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(Action)) or 0
        done = session.scalar(select(func.count()).select_from(Action).where(Action.state.in_(list(FINAL)))) or 0
    return total - done, total


def _result(
    database_url: str, timeline: dict[str, float], twilio: TwilioStandIn, count: int, rate: float
) -> PartResult:
    sends = sorted(r.at for r in twilio.accepted())
    if len(sends) < count:
        raise RuntimeError(f"{len(sends)} WhatsApp messages reached Twilio for {count} invoices")
    start = timeline["first_post"]
    measured = sends[-1] - start
    ideal = len(sends) / rate
    db = Database(database_url)
    try:
        with db.session() as session:
            plans = session.execute(
                select(Attempt.started_at, Attempt.duration_ms)
                .join(Action, Action.id == Attempt.action_id)
                .where(Action.channel == "plan")
            ).all()
            deferrals = session.scalar(
                select(func.count()).select_from(ActionTransition).where(ActionTransition.reason.like("rate limit%"))
            )
            states = dict(session.execute(select(Action.state, func.count()).group_by(Action.state)).all())
    finally:
        db.dispose()
    planned_by = max(started.timestamp() + (ms or 0) / 1000 for started, ms in plans)  # aware UTC
    seconds = {
        "posting_done": timeline["posted"] - start,
        "planning_done": planned_by - start,
        "first_whatsapp": sends[0] - start,
        "last_whatsapp": measured,
        "all_actions_final": timeline["all_final"] - start,
    }
    sending_rate = (len(sends) - 1) / (sends[-1] - sends[0]) if len(sends) > 1 else float("nan")
    row = Row(
        "monthly",
        f"{count} invoices: last WhatsApp after",
        measured,
        "s",
        baseline=ideal,
        ratio=ideal / measured,
        at_least=TARGET,
        note=f"first WhatsApp at {seconds['first_whatsapp']:.0f} s, planning done at {seconds['planning_done']:.0f} s, "
        f"then {sending_rate:.2f}/s",
    )
    detail = {
        "events": count,
        "rate_per_second": rate,
        "whatsapp_messages": len(sends),
        "duplicates_at_twilio": len(sends) - len({r.to for r in twilio.accepted()}),
        "seconds_from_first_post": {k: round(v, 1) for k, v in seconds.items()},
        "posting_events_per_second": round(count / seconds["posting_done"], 1),
        "sending_rate_per_second": round(sending_rate, 3),
        "rate_limit_deferrals": deferrals,
        "action_states": states,
    }
    return PartResult(rows=[row], detail=detail)
