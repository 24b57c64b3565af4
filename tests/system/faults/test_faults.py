"""The guarantees under load with the faults switched on (issue 6, fault suite).

Real processes: gunicorn (two web processes), two RQ workers and the relay, started with
`python -m ...` from the repository as in production. Real local servers in threads of
this process: Twilio's Messages API and WHMCS's API (tests/system/faults/stand_ins.py), Pagos360
(tests/support/pagos360_stand_in.py) and SMTP (tests/support/smtp_server.py).

The load: FAULT_EVENTS signed WHMCS events (300 by default, 2,000 with `make faults`), every hook type in turn,
each for its own client, plus paid Pagos360 card debits, each for its own invoice and each
notified twice. While it runs: five SIGKILLs of a worker at random moments, one of every
worker just after Twilio accepted a message (the documented duplicate window), Redis emptied
(and the embedded one crashed and restarted) twice, a fifth of Twilio's answers 500, 429
or a hang past the client's timeout, WHMCS's API down for 30 seconds, and every database
connection dropped once (PostgreSQL). FAULT_SEED picks the moments and the faulty answers.

Then, once every Action is final: none failed; every WhatsApp message reached Twilio at
least once; every duplicate there belongs to an Action whose send was cut off (an attempt
closed as `lost`, the documented crash window); every payment was added exactly once, or
(when a kill fell between the payment's claim and WHMCS's answer) held for staff, never twice.
The counts are printed and written to bench/results/faults.json.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.core.states import FINAL, State
from bridge.store.db import Database
from bridge.store.models import Action, ActionTransition, Attempt, Event
from tests import backends
from tests.helpers import REPO, approve_every_template
from tests.support.pagos360_stand_in import pagos360_stand_in
from tests.support.smtp_server import smtp_server
from tests.system.faults import harness
from tests.system.faults.stand_ins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WHMCS_IDENTIFIER,
    WHMCS_SECRET,
    TwilioRequest,
    TwilioStandIn,
    WhmcsApiStandIn,
    serve,
)

# Left out of `make check`: the fault suite, hundreds of events through worker processes under faults.
pytestmark = pytest.mark.slow

# 300 by default keeps `make test` to a few minutes; `make faults` runs the full 2,000.
EVENTS = int(os.environ.get("FAULT_EVENTS", "300"))
# A fixed seed: a failure in CI can be replayed with the same kills at the same points.
SEED = int(os.environ.get("FAULT_SEED", "20261122"))
WORKERS = 2
DRAIN_TIMEOUT = float(os.environ.get("FAULT_DRAIN_TIMEOUT", "180"))
WHMCS_DOWN_SECONDS = 30.0
TWILIO_TIMEOUT = 1.0
PAGOS360_TOKEN = "fault-suite-pagos360-token-0123456789"
RESULTS = REPO / "bench" / "results" / "faults.json"


def _settings(base_config: dict[str, Any], twilio: str, whmcs: str, p360: Any, smtp_port: int) -> dict[str, Any]:
    return {
        **base_config,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "+14155238886",
        "TWILIO_API_BASE": twilio,
        "TWILIO_TIMEOUT_SECONDS": TWILIO_TIMEOUT,
        "WHMCS_API_URL": whmcs,
        "WHMCS_API_IDENTIFIER": WHMCS_IDENTIFIER,
        "WHMCS_API_SECRET": WHMCS_SECRET,
        "WHMCS_API_TIMEOUT_SECONDS": 2,
        "PAGOS360_API_BASE": p360.base_url,
        "PAGOS360_API_KEY": p360.api_key,
        "PAGOS360_WEBHOOK_TOKEN": PAGOS360_TOKEN,
        "PAGOS360_TIMEOUT_SECONDS": 2,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_STARTTLS": "false",
        "SMTP_TIMEOUT_SECONDS": 5,
        "MAIL_FROM": "avisos@tuhosting.example",
        "RATE_LIMIT_WHATSAPP_PER_SECOND": 1000,
        "RATE_LIMIT_EMAIL_PER_SECOND": 1000,
        "THROTTLE_PAUSE_SECONDS": 0.2,
        "RETRY_BASE_SECONDS": 0.2,
        "RETRY_MAX_SECONDS": 2,
        # Retries must outlast WHMCS's 30 s outage: with equal jitter the 30 waits add up
        # to at least 0.1 + 0.2 + 0.4 + 0.8 + 25 x 1 s, before any time spent in the queue.
        "RETRY_MAX_ATTEMPTS": 30,
        "RELAY_INTERVAL_SECONDS": 0.5,
        "RELAY_QUEUED_GRACE_SECONDS": 2,
        # Above every provider timeout (Twilio 1 s, WHMCS and Pagos360 2 s, SMTP 5 s).
        "RELAY_SENDING_TIMEOUT_SECONDS": 8,
        "DEBIT_CYCLE_HOUR": 23,
    }


def test_faults_under_load(base_config, database_url, redis_url, tmp_path, capsys):
    rng = random.Random(SEED)
    embedded_redis = not backends.TEST_REDIS_URL
    postgres = database_url.startswith("postgresql")
    twilio = TwilioStandIn(hang_seconds=TWILIO_TIMEOUT + 1.0, seed=SEED)
    whmcs = WhmcsApiStandIn()
    logs = tmp_path / "logs"
    logs.mkdir()
    with (
        serve(twilio.handle) as twilio_url,
        serve(whmcs.handle) as whmcs_url,
        pagos360_stand_in() as p360,
        smtp_server() as (inbox, smtp_port),
    ):
        settings = _settings(base_config, twilio_url, whmcs_url, p360, smtp_port)
        approve_every_template(database_url)  # production: the notices go as approved templates
        settings["BRIDGE_CONFIG_DIR"] = str(shutil.copytree(DEFAULT_CONFIG_DIR, tmp_path / "config"))
        env = {**os.environ, **{k: str(v) for k, v in settings.items()}}
        cluster = harness.Cluster(env=env, logs=logs, worker_count=WORKERS)

        debits = max(10, EVENTS // 20)
        events = [harness.whmcs_event(i, whmcs) for i in range(EVENTS)]
        notes = [harness.debit_paid(j, whmcs, p360) for j in range(debits)]
        posts = list(events)
        for note in notes * 2:  # each notification twice, at two random moments of the load
            posts.insert(rng.randrange(len(posts) + 1), note)

        cluster.start()
        started = time.monotonic()
        faults = harness.FaultLog(started)
        load = harness.Load(cluster.web_url, PAGOS360_TOKEN, posts, max_open=max(30, min(300, len(posts) // 10)))

        def kill() -> None:
            slot = rng.randrange(WORKERS)
            name = cluster.kill_worker(slot)
            faults.add("worker SIGKILLed", worker=name)

        def crash_after_accept() -> None:
            def crash(message: TwilioRequest) -> None:
                names = cluster.kill_all_workers()
                faults.add("every worker SIGKILLed just after Twilio accepted a message", to=message.to, workers=names)

            twilio.after_next_accept(crash)
            faults.add("armed: crash every worker after Twilio's next accepted message")

        def whmcs_down() -> None:
            whmcs.down = True
            faults.add("WHMCS API down (503)")
            timer = threading.Timer(WHMCS_DOWN_SECONDS, _whmcs_up)
            timer.daemon = True
            timer.start()

        def _whmcs_up() -> None:
            whmcs.down = False
            faults.add("WHMCS API back up")

        def db_drop() -> None:
            if postgres:
                harness.drop_database_connections(database_url, faults)
            else:
                faults.add("database connection drop: not applicable on SQLite (no server connection)")

        plan = harness.schedule(rng)
        fault_thread = threading.Thread(
            target=harness.run_faults,
            args=(
                plan,
                load,
                {
                    "kill": kill,
                    "redis": lambda: harness.empty_redis(redis_url, embedded_redis, faults),
                    "whmcs_down": whmcs_down,
                    "db_drop": db_drop,
                    "crash_after_accept": crash_after_accept,
                },
            ),
            daemon=True,
        )
        twilio.faulty = True
        load_thread = threading.Thread(target=load.run, daemon=True)
        try:
            load_thread.start()
            fault_thread.start()
            db = Database(database_url)
            states = _drain(db, cluster, load, load_thread, fault_thread, started)
            finished = time.monotonic()
            if load.error is not None:
                raise load.error
            report = _report(
                db, twilio, whmcs, inbox, load, faults, cluster, events, notes, states, started, finished, postgres
            )
            db.dispose()
        finally:
            cluster.stop()
            whmcs.down = False

    _print(capsys, report)
    _save(report)
    _check(report, postgres)


def _drain(db: Database, cluster: harness.Cluster, load, load_thread, fault_thread, started: float) -> Counter[str]:
    """Wait until the load and the faults are over and every Action is in a final state."""
    deadline = None
    states: Counter[str] = Counter()
    while True:
        cluster.supervise()
        if deadline is None and not load_thread.is_alive() and not fault_thread.is_alive():
            deadline = time.monotonic() + DRAIN_TIMEOUT
        try:
            with db.session() as session:
                rows = session.execute(select(Action.state, func.count()).group_by(Action.state)).all()
            states = Counter({state: n for state, n in rows})
        except Exception:  # the database connection was just dropped: ask again
            time.sleep(0.5)
            continue
        open_ = sum(n for state, n in states.items() if State(state) not in FINAL)
        load.open_actions = open_
        if deadline is not None and open_ == 0:
            return states
        if deadline is not None and time.monotonic() > deadline:
            with db.session() as session:
                stuck = session.execute(
                    select(Action.id, Action.channel, Action.state, Action.attempts, Action.last_error)
                    .where(Action.state.not_in([str(s) for s in FINAL]))
                    .limit(10)
                ).all()
            raise AssertionError(
                f"after {time.monotonic() - started:.0f}s ({DRAIN_TIMEOUT:.0f}s after the load and the faults "
                f"ended) {open_} Actions are still not final: {dict(states)}; for example {stuck}; "
                f"logs in {cluster.logs}"
            )
        time.sleep(0.5)


def _report(db, twilio, whmcs, inbox, load, faults, cluster, events, notes, states, started, finished, postgres):
    with db.session() as session:
        actions = session.execute(
            select(Action.id, Action.event_id, Action.channel, Action.recipient, Action.state, Action.provider_ref)
        ).all()
        failed = session.execute(
            select(Action.id, Action.channel, Action.last_error, Action.content).where(Action.state == State.FAILED)
        ).all()
        attempts = session.execute(select(Attempt.action_id, Attempt.number, Attempt.outcome)).all()
        claims = session.execute(
            select(ActionTransition.action_id, ActionTransition.reason).where(ActionTransition.to_state == "sending")
        ).all()
        # The inbound events; the bridge's own (the relay's daily jobs: a renewal scan) apart.
        stored_events = Counter(session.execute(select(Event.source).where(Event.source != "bridge")).scalars())
        own_events = Counter(session.execute(select(Event.type).where(Event.source == "bridge")).scalars())

    by_channel = Counter(a.channel for a in actions)
    whatsapp = [a for a in actions if a.channel == "whatsapp"]
    accepted = twilio.accepted()
    deliveries = Counter(r.to.removeprefix("whatsapp:") for r in accepted)
    sids = {r.sid for r in accepted}
    lost = Counter(a.action_id for a in attempts if a.outcome == "lost")
    lost_numbers = {(a.action_id, a.number) for a in attempts if a.outcome == "lost"}
    claimed_by: dict[tuple[int, int], str] = {}
    for action_id, reason in claims:
        # "attempt 3 by worker bridge-host-1234" (bridge/work/deliverer.py _claim)
        words = reason.split()
        if len(words) >= 5 and words[0] == "attempt" and words[2:4] == ["by", "worker"]:
            claimed_by[(action_id, int(words[1]))] = words[4]
    killed = set(cluster.killed)
    lost_by_kill = sum(1 for key in lost_numbers if claimed_by.get(key) in killed)
    # The payment guard's documented window (bridge/work/payments.py): a worker killed after its
    # claim on a payment was committed and before WHMCS answered leaves the payment's
    # outcome unknown; the next try finds no transaction on the invoice and holds the
    # payment for staff instead of risking a second AddInvoicePayment. Such an Action must
    # have a lost attempt; any other failure is a failure.
    held = [
        f
        for f in failed
        if f.channel == "whmcs_payment" and "outcome is unknown" in (f.last_error or "") and lost.get(f.id, 0) > 0
    ]
    failed = [f for f in failed if f not in held]
    held_transids = sorted(str(f.content.get("transid")) for f in held)

    expected_whatsapp = {e.whatsapp_to for e in events if e.whatsapp_to}
    whatsapp_to = Counter(a.recipient for a in whatsapp)
    duplicates = []
    for action in whatsapp:
        extra = deliveries.get(action.recipient, 0) - 1
        if extra > 0:
            duplicates.append({"action": action.id, "extra": extra, "lost_attempts": lost.get(action.id, 0)})
    emails_to = Counter(str(to).lower() for message in inbox.messages for to in message.get_all("To", []))
    email_actions = [a for a in actions if a.channel == "email"]
    email_duplicates = []
    for action in email_actions:
        extra = emails_to.get(action.recipient.lower(), 0) - 1
        if extra > 0:
            email_duplicates.append({"action": action.id, "extra": extra, "lost_attempts": lost.get(action.id, 0)})
    transids = whmcs.added_transids()
    return {
        "backend": backends.describe(),
        "seed": SEED,
        "events": {
            "whmcs_posted": len(events),
            "pagos360_debits_paid": len(notes),
            "pagos360_notifications_posted": 2 * len(notes),
            "posts_resent_after_5xx_or_no_answer": load.resent,
            "stored": dict(stored_events),
            "bridge_own": dict(own_events),
            "event_ids_per_post": sorted({len(ids) for ids in load.event_ids.values()}),
        },
        "actions": {"total": len(actions), "by_channel": dict(by_channel), "by_state": dict(states)},
        "failed": [[row.id, row.channel, row.last_error] for row in failed[:20]],
        "whatsapp": {
            "actions": len(whatsapp),
            "expected_recipients": len(expected_whatsapp),
            "missing_actions": sorted(expected_whatsapp - set(whatsapp_to))[:20],
            "recipients_with_two_actions": sorted(r for r, n in whatsapp_to.items() if n > 1)[:20],
            "twilio_requests": twilio.outcomes(),
            "deliveries": len(accepted),
            "actions_never_delivered": [a.id for a in whatsapp if a.recipient not in deliveries][:20],
            "sent_without_stand_in_sid": [
                a.id for a in whatsapp if a.state == State.SENT and a.provider_ref not in sids
            ][:20],
            "duplicates": sum(d["extra"] for d in duplicates),
            "duplicated_actions": duplicates,
        },
        "email": {
            "actions": len(email_actions),
            "deliveries": sum(emails_to.values()),
            "recipients_with_two_actions": sorted(
                r for r, n in Counter(a.recipient for a in email_actions).items() if n > 1
            )[:20],
            "duplicates": sum(n - 1 for n in emails_to.values() if n > 1),
            "duplicated_actions": email_duplicates,
            "actions_never_delivered": [a.id for a in email_actions if a.recipient.lower() not in emails_to][:20],
        },
        "attempts_lost": {
            "total": len(lost_numbers),
            "claimed_by_a_killed_worker": lost_by_kill,
            "other": len(lost_numbers) - lost_by_kill,
        },
        "payments": {
            "debits_paid": len(notes),
            "added": len(transids),
            "distinct": len(set(transids)),
            "added_twice": sorted(t for t, n in Counter(transids).items() if n > 1),
            "missing": sorted({n.key for n in notes} - set(transids)),
            "held_for_staff_after_a_kill": held_transids,
            "unexpected": sorted(set(transids) - {n.key for n in notes}),
        },
        "faults": {
            "worker_kills": len(cluster.killed),
            "crashes_after_twilio_accepted": sum(1 for e in faults.entries if "just after Twilio" in e["fault"]),
            "worker_exits_unprompted": cluster.unexpected_exits,
            "redis_emptied": sum(1 for e in faults.entries if e["fault"].startswith("redis emptied")),
            "twilio_faulty_share": round(
                sum(n for k, n in twilio.outcomes().items() if k != "accepted") / max(len(twilio.requests), 1), 3
            ),
            "whmcs_calls_refused_while_down": whmcs.refused_while_down,
            "database_connections_dropped": (
                sum(e.get("connections", 0) for e in faults.entries if e["fault"].startswith("database connections"))
                if postgres
                else "not applicable on SQLite"
            ),
            "log": faults.entries,
        },
        "seconds": {
            "load": round(load.finished_at - started, 1),
            "total_until_all_final": round(finished - started, 1),
        },
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _print(capsys: pytest.CaptureFixture[str], report: dict[str, Any]) -> None:
    """The counts, on the terminal whether or not pytest captures output (-s or not)."""
    events, actions, wa, mail, pay = (report[k] for k in ("events", "actions", "whatsapp", "email", "payments"))
    faults, secs = report["faults"], report["seconds"]
    lines = [
        f"fault suite on {report['backend']} (FAULT_SEED={report['seed']})",
        f"  events      {events['whmcs_posted']} WHMCS + {events['pagos360_debits_paid']} Pagos360 debits paid "
        f"(notified twice each); stored {events['stored']}; "
        f"posts resent {events['posts_resent_after_5xx_or_no_answer']}",
        f"  actions     {actions['total']} {actions['by_channel']}; states {actions['by_state']}",
        f"  whatsapp    {wa['actions']} actions; Twilio requests {wa['twilio_requests']}; "
        f"deliveries {wa['deliveries']}; duplicates {wa['duplicates']} "
        f"(on {len(wa['duplicated_actions'])} actions, each with an attempt closed as lost)",
        f"  email       {mail['actions']} actions; deliveries {mail['deliveries']}; duplicates {mail['duplicates']}",
        f"  lost sends  {report['attempts_lost']}",
        f"  payments    {pay['added']} added for {pay['debits_paid']} debits paid; distinct {pay['distinct']}; "
        f"twice {pay['added_twice']}; held for staff after a kill {pay['held_for_staff_after_a_kill']}",
        f"  faults      {faults['worker_kills']} worker kills ({faults['crashes_after_twilio_accepted']} crash of "
        f"every worker just after Twilio accepted a message); "
        f"unprompted worker exits "
        f"{len(faults['worker_exits_unprompted'])}; Redis emptied {faults['redis_emptied']}x; Twilio faulty "
        f"{faults['twilio_faulty_share']:.0%}; WHMCS refused {faults['whmcs_calls_refused_while_down']} calls "
        f"while down; database connections dropped: {faults['database_connections_dropped']}",
        f"  time        load {secs['load']}s; every action final after {secs['total_until_all_final']}s",
    ]
    for entry in faults["log"]:
        lines.append(f"    t={entry['at_s']:>6.1f}s  {entry['fault']}" + (f"  {entry}" if len(entry) > 2 else ""))
    # The terminal reporter writes to a stdout that pytest's fd capture swallows during a
    # passing test; with capture disabled the lines reach the terminal (and CI's log).
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def _save(report: dict[str, Any]) -> None:
    """bench/results/faults.json keeps the latest run of each backend."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        results = {}
    results[report["backend"]] = report
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def _check(report: dict[str, Any], postgres: bool) -> None:
    events, wa, mail, pay, faults = (report[k] for k in ("events", "whatsapp", "email", "payments", "faults"))
    assert not report["failed"], f"Actions failed under transient faults: {report['failed']}"
    assert events["stored"] == {"whmcs": events["whmcs_posted"], "pagos360": events["pagos360_debits_paid"]}
    assert events["event_ids_per_post"] == [1], "a post answered with two different event ids"
    assert not wa["missing_actions"] and not wa["recipients_with_two_actions"]
    assert wa["actions"] == wa["expected_recipients"]
    assert not wa["actions_never_delivered"], "WhatsApp messages that never reached Twilio"
    assert not wa["sent_without_stand_in_sid"], "sent Actions whose sid Twilio never issued"
    unexplained = [d for d in wa["duplicated_actions"] if d["lost_attempts"] < d["extra"]]
    assert not unexplained, f"duplicates outside the documented crash window: {unexplained}"
    assert not mail["actions_never_delivered"], "emails that never reached the SMTP server"
    assert not mail["recipients_with_two_actions"]
    unexplained = [d for d in mail["duplicated_actions"] if d["lost_attempts"] < d["extra"]]
    assert not unexplained, f"email duplicates outside the documented crash window: {unexplained}"
    held = pay["held_for_staff_after_a_kill"]
    assert pay["added"] == pay["distinct"] == pay["debits_paid"] - len(held)
    assert pay["missing"] == held, "payments missing that the guard did not hold for staff after a kill"
    assert not pay["unexpected"] and not pay["added_twice"]
    # Five single kills at random moments, then every worker at once after an accepted send.
    assert faults["crashes_after_twilio_accepted"] == 1
    assert faults["worker_kills"] == 5 + WORKERS and faults["redis_emptied"] == 2
    # That crash is the documented window: the message it cut off was sent twice, and the
    # duplicate is counted here (the checks above tie each duplicate to a lost attempt).
    assert wa["duplicates"] >= 1, "the crash after Twilio accepted a message left no duplicate to count"
    assert faults["whmcs_calls_refused_while_down"] > 0
    assert 0.12 < faults["twilio_faulty_share"] < 0.3
    if postgres:
        assert faults["database_connections_dropped"] > 0
