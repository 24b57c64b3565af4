"""Part 5, order activation: --activation-orders OrderPaid events (1,000 by default), each
a new order of its own client, posted at a steady --activation-rate (5/s by default) from
one thread, as WHMCS fires them through a busy day. The bridge runs as in the monthly part
(gunicorn with the production config, two workers, the relay, WHMCS's API and Twilio stood
in), with a copy of config/ whose routing says `[activation] default = "instant"` (and
whose default staff group has an address, so an activation that fails is heard).

Each order is planned (GetOrders, GetClientsDetails, GetClientsProducts, GetInvoices) and
its `whmcs_order` Action carried out (GetOrders, AcceptOrder with auto-setup). Measured, per
order: from the moment its OrderPaid post was sent to the moment the WHMCS stand-in received
AcceptOrder for it; p50 and p99 over all orders (one never accepted counts as infinite),
against the company's promise of activation within 2 minutes of payment.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
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
    latency_summary,
    percentile,
    providers,
    settle,
    workers_ready,
)
from bridge.core.catalog import Catalog
from bridge.store.db import Database
from bridge.store.models import Action
from tests.helpers import REPO
from tests.system.faults import harness
from tests.system.faults.stand_ins import WhmcsApiStandIn, order_invoice_id

PROMISE_S = 120.0  # activation within 2 minutes of payment
FIRST_ORDER = 400_000  # clear of the fault suite's services (300,000) and invoices (500,000)
STAFF_EMAIL = "staff@bench.example"


@dataclass
class Order:
    """One paid order: its own client and invoice, posted once."""

    order_id: int
    client_id: int
    webhook_id: str
    params: dict[str, Any]


def run(stage: Stage, args: argparse.Namespace) -> PartResult:
    stage.reset()
    count: int = args.activation_orders
    rate: float = args.activation_rate
    config = instant_config(stage.out / "activation-config")
    with providers() as (_twilio, whmcs, settings):
        orders = [order_paid(i, whmcs, "activation") for i in range(count)]
        env = stage.env(**settings, BRIDGE_CONFIG_DIR=config)
        with stage.cluster("activation", env) as cluster:
            cluster.start_web()
            cluster.start_workers(2)
            cluster.start_relay()
            ready = workers_ready(stage.redis_url, 2)
            posting = _drive(cluster, orders, rate, whmcs, timeout=count / rate + 300)
            settled = settle(cluster, stage.database_url)
        result = _result(stage.database_url, orders, posting, whmcs, rate, settled)
    result.detail.update(workers_ready_after_s=round(ready, 1), config_dir=str(config))
    return result


def instant_config(target: Path) -> Path:
    """A copy of the repository's config/ with `[activation] default = "instant"` and an
    address for the `default` staff group; checked by reading it as the bridge does."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(REPO / "config", target)
    routing = target / "routing.toml"
    source = routing.read_text()
    section = source.index("\n[activation]\n")
    manual = source.index('default = "manual"', section)
    source = source[:manual] + 'default = "instant"' + source[manual + len('default = "manual"') :]
    if source.count("emails = []      #") < 1:
        raise RuntimeError(f"{routing}: no `emails = []      #` line for the default staff group")
    source = source.replace("emails = []      #", f'emails = ["{STAFF_EMAIL}"]  #', 1)
    routing.write_text(source)
    if Catalog(target).activation.default != "instant":
        raise RuntimeError(f"{routing}: [activation] default is not instant after the edit")
    if tomllib.loads(source).get("staff", {}).get("emails") != [STAFF_EMAIL]:
        raise RuntimeError(f"{routing}: the default staff group has no address after the edit")
    return target


def order_paid(number: int, whmcs: WhmcsApiStandIn, run_id: str) -> Order:
    """Order `number`, of its own client, registered with the WHMCS stand-in (GetOrders,
    GetClientsProducts) and paid with its own invoice."""
    order_id, client = FIRST_ORDER + number, harness.FIRST_CLIENT + number
    whmcs.orders[order_id] = client
    whmcs.invoice_owner[order_invoice_id(order_id)] = client
    params = {"orderId": order_id, "userId": client, "invoiceId": order_invoice_id(order_id)}
    return Order(order_id, client, f"bench-{run_id}-order-{number}", params)


def _drive(cluster: BenchCluster, orders: list[Order], rate: float, whmcs: WhmcsApiStandIn, timeout: float) -> Posting:
    """Post from a thread; return when every order got its AcceptOrder, or at the timeout
    (the orders left are reported as never accepted)."""
    posts = [
        PacedPost(o.order_id, "OrderPaid", o.params, o.webhook_id, f"OrderPaid for order {o.order_id}") for o in orders
    ]
    wanted = {order.order_id for order in orders}
    return drive_paced(cluster, posts, rate, lambda: len(wanted & whmcs.accepted().keys()), timeout, "accepted")


def _by_tenth(orders: list[Order], sent: dict[int, float], accepted: dict[int, float]) -> list[dict[str, Any]]:
    """p50 and max (seconds) of each tenth of the orders, in posting order: a start-up or a
    backlog building up shows here."""
    size = max(1, math.ceil(len(orders) / 10))
    tenths = []
    for first in range(0, len(orders), size):
        chunk = orders[first : first + size]
        ids = [o.order_id for o in chunk if o.order_id in sent and o.order_id in accepted]
        summary = latency_summary([accepted[i] - sent[i] for i in ids], len(chunk), "never_accepted")
        tenths.append({"orders": f"{first + 1}-{first + len(chunk)}", "p50": summary["p50"], "max": summary["max"]})
    return tenths


def _result(
    database_url: str,
    orders: list[Order],
    posting: Posting,
    whmcs: WhmcsApiStandIn,
    rate: float,
    settled: bool,
) -> PartResult:
    count = len(orders)
    accepted = whmcs.accepted()
    from_post = [accepted[o] - posting.sent[o] for o in posting.sent if o in accepted]
    from_202 = [accepted[o] - posting.answered[o] for o in posting.answered if o in accepted]
    every = sorted(from_post) + [math.inf] * (count - len(from_post))
    p50, p99 = percentile(every, 0.50), percentile(every, 0.99)
    never = [o.order_id for o in orders if o.order_id not in accepted]
    answers_ms = sorted((posting.answered[o] - posting.sent[o]) * 1000 for o in posting.sent)
    span = max(posting.sent.values()) - min(posting.sent.values()) if len(posting.sent) > 1 else 0.0
    achieved = (len(posting.sent) - 1) / span if span else float("nan")
    calls = whmcs.accept_order_calls()
    db = Database(database_url)
    try:
        with db.session() as session:
            states = session.execute(
                select(Action.channel, Action.state, func.count()).group_by(Action.channel, Action.state)
            ).all()
    finally:
        db.dispose()
    pace = f"{count} OrderPaid posted at {rate:g}/s from one thread (a busy day's pace)"
    rows = [
        Row(
            "activation",
            "OrderPaid posted to AcceptOrder received, p50",
            p50,
            "s",
            note=f"{pace}; p50 {p50:.3f} s, min {min(from_post, default=math.nan):.3f} s",
        ),
        Row(
            "activation",
            "OrderPaid posted to AcceptOrder received, p99",
            p99,
            "s",
            below=PROMISE_S,
            note=f"{pace}; p50 {p50:.3f} s, max {every[-1]:.3f} s, {len(never)} never accepted "
            f"(promise: activated within {PROMISE_S:.0f} s of payment)",
        ),
    ]
    detail = {
        "orders": count,
        "rate_per_second": rate,
        "posting": {
            "posted": len(posting.sent),
            "achieved_rate_per_second": round(achieved, 3),
            "posts_behind_their_slot": posting.behind,
            "seconds": round(posting.finished - posting.started, 1),
            "answer_ms": {
                "p50": round(percentile(answers_ms, 0.50), 1),
                "p99": round(percentile(answers_ms, 0.99), 1),
                "max": round(answers_ms[-1], 1),
            }
            if answers_ms
            else {},
        },
        "seconds_post_sent_to_accept_order": latency_summary(from_post, count, "never_accepted"),
        "seconds_202_answer_to_accept_order": latency_summary(from_202, count, "never_accepted"),
        "by_tenth_of_the_run": _by_tenth(orders, posting.sent, accepted),
        "never_accepted_orders": never[:50],
        "accept_order_calls": len(calls),
        "accept_order_repeats": len(calls) - len({order for order, _ in calls}),
        "whmcs_api_calls": whmcs.calls,
        "actions_final_at_the_end": settled,
        "action_states": {f"{channel} {state}": n for channel, state, n in states},
    }
    return PartResult(rows=rows, detail=detail)
