"""Part 7, a single event's latency: --latency-events InvoiceCreated events (1,000 by
default), each for its own client, posted one at a time at a steady --latency-rate (5/s by
default) from one thread. The bridge runs as in the monthly part (gunicorn with the
production config, two workers, the relay, the default settings, every WhatsApp template
approved, WHMCS's API and Twilio stood in); the posting starts once both workers listen.

Measured, per event: from the moment its 202 arrived to the moment the Twilio stand-in
accepted the WhatsApp message to its client (the provider call); p50 and p99 over all
events (one never delivered counts as infinite), against p99 < 500 ms. Beside it, from the
post leaving to its 202, so that the reader sees where the time goes.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from sqlalchemy import func, select

from bench.stage import (
    BenchCluster,
    PacedPost,
    PartResult,
    Posting,
    Row,
    Stage,
    drive_paced,
    invoice_created,
    latency_summary,
    percentile,
    providers,
    settle,
    workers_ready,
)
from bridge.store.db import Database
from bridge.store.models import Action
from tests.system.faults import harness
from tests.system.faults.stand_ins import TwilioStandIn, client_whatsapp

TARGET_P99_S = 0.5


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()  # approves every WhatsApp template, so that the notices go out as templates
    count: int = args.latency_events
    rate: float = args.latency_rate
    with providers() as (twilio, whmcs, settings):
        events = [invoice_created(i, whmcs, "latency") for i in range(count)]
        with stage.cluster("latency", stage.env(**settings)) as cluster:
            cluster.start_web()
            cluster.start_workers(2)
            cluster.start_relay()
            ready = workers_ready(stage.redis_url, 2)
            posting = _drive(cluster, events, rate, twilio, timeout=count / rate + 300)
            settled = settle(cluster, stage.database_url)
        result = _result(stage.database_url, events, posting, twilio, rate, settled)
    result.detail.update(workers_ready_after_s=round(ready, 1))
    return result


def delivered(twilio: TwilioStandIn) -> dict[str, float]:
    """WhatsApp number (E.164) -> when Twilio first accepted a message to it (epoch seconds)."""
    first: dict[str, float] = {}
    for request in twilio.accepted():
        to = request.to.removeprefix("whatsapp:")
        first[to] = min(first.get(to, request.at), request.at)
    return first


def _drive(
    cluster: BenchCluster, events: list[harness.Planned], rate: float, twilio: TwilioStandIn, timeout: float
) -> Posting:
    """Post from a thread; return when every event's client has its WhatsApp message, or at
    the timeout (the events left are reported as never delivered)."""
    posts = [
        PacedPost(n, "InvoiceCreated", e.body, e.key, f"InvoiceCreated {n} (client {e.client_id})")
        for n, e in enumerate(events)
    ]
    wanted = {client_whatsapp(event.client_id) for event in events}
    return drive_paced(cluster, posts, rate, lambda: len(wanted & delivered(twilio).keys()), timeout, "at Twilio")


def _by_tenth(events: list[harness.Planned], latency: dict[int, float]) -> list[dict[str, Any]]:
    """p50 and max (seconds) of each tenth of the events, in posting order: a start-up or a
    backlog building up shows here."""
    size = max(1, math.ceil(len(events) / 10))
    tenths = []
    for first in range(0, len(events), size):
        numbers = range(first, min(first + size, len(events)))
        summary = latency_summary([latency[n] for n in numbers if n in latency], len(numbers), "never_delivered")
        tenths.append({"events": f"{first + 1}-{numbers[-1] + 1}", "p50": summary["p50"], "max": summary["max"]})
    return tenths


def _result(
    database_url: str,
    events: list[harness.Planned],
    posting: Posting,
    twilio: TwilioStandIn,
    rate: float,
    settled: bool,
) -> PartResult:
    count = len(events)
    at_twilio = delivered(twilio)
    latency = {
        n: at_twilio[client_whatsapp(events[n].client_id)] - answered
        for n, answered in posting.answered.items()
        if client_whatsapp(events[n].client_id) in at_twilio
    }
    every = sorted(latency.values()) + [math.inf] * (count - len(latency))
    p50, p99 = percentile(every, 0.50), percentile(every, 0.99)
    answer = sorted(posting.answered[n] - posting.sent[n] for n in posting.answered)
    answer_p50, answer_p99 = percentile(answer, 0.50), percentile(answer, 0.99)
    never = [events[n].client_id for n in range(count) if n not in latency]
    span = max(posting.sent.values()) - min(posting.sent.values()) if len(posting.sent) > 1 else 0.0
    achieved = (len(posting.sent) - 1) / span if span else float("nan")
    accepted = twilio.accepted()
    db = Database(database_url)
    try:
        with db.session() as session:
            states = session.execute(
                select(Action.channel, Action.state, func.count()).group_by(Action.channel, Action.state)
            ).all()
    finally:
        db.dispose()
    pace = f"{count} InvoiceCreated, each its own client, posted at {rate:g}/s from one thread"
    rows = [
        Row(
            "latency",
            "202 -> WhatsApp at Twilio, p50",
            p50,
            "s",
            note=f"{pace}; min {min(latency.values(), default=math.nan) * 1000:.0f} ms, "
            f"p90 {percentile(every, 0.90) * 1000:.0f} ms",
        ),
        Row(
            "latency",
            "202 -> WhatsApp at Twilio, p99",
            p99,
            "s",
            below=TARGET_P99_S,
            note=f"{pace}; max {every[-1] * 1000:.0f} ms, {len(never)} never delivered",
        ),
        Row(
            "latency",
            "post sent -> its 202, p99",
            answer_p99,
            "s",
            note=f"the intake's answer, before the 202 -> Twilio time: p50 {answer_p50 * 1000:.1f} ms, "
            f"p99 {answer_p99 * 1000:.1f} ms, max {answer[-1] * 1000:.1f} ms",
        ),
    ]
    detail = {
        "events": count,
        "rate_per_second": rate,
        "posting": {
            "posted": len(posting.sent),
            "achieved_rate_per_second": round(achieved, 3),
            "posts_behind_their_slot": posting.behind,
            "seconds": round(posting.finished - posting.started, 1),
        },
        "seconds_202_to_whatsapp_at_twilio": latency_summary(list(latency.values()), count, "never_delivered"),
        "seconds_post_sent_to_202": {
            k: v for k, v in latency_summary(answer, len(answer), "never_delivered").items() if k != "never_delivered"
        },
        "never_delivered": len(never),
        "never_delivered_clients": never[:50],
        "by_tenth_of_the_run": _by_tenth(events, latency),
        "whatsapp_accepted_at_twilio": len(accepted),
        "whatsapp_repeats_at_twilio": len(accepted) - len({r.to for r in accepted}),
        "twilio_outcomes": twilio.outcomes(),
        "actions_final_at_the_end": settled,
        "action_states": {f"{channel} {state}": n for channel, state, n in states},
    }
    return PartResult(rows=rows, detail=detail)
