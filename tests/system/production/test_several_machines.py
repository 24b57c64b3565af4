"""Several machines, simulated here (issue 7): 2 web processes and 3 worker processes, each
its own process with its own environment (its own instance folder), plus a relay, against
one database and one Redis (the suite's backend).

5,000 signed WHMCS events (ClientAdd, ClientEdit and the three module events, which the
bridge plans from the hook's own fields, each for its own client) are posted through both
web processes at once. Once every Action is final: every event stored once and answered
with one id; each event's Actions exactly the planned ones (its planning, one WhatsApp
message, one email), each claimed once and sent; Twilio's and the SMTP server's stand-ins
got each message exactly once; and each of the 3 workers carried out a fair share.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from bridge.core.states import FINAL, State
from bridge.store.db import Database
from bridge.store.models import Action, ActionTransition, Attempt, Event
from tests import backends
from tests.helpers import approve_every_template
from tests.support.prism import free_port
from tests.support.smtp_server import smtp_server
from tests.system.faults import harness
from tests.system.faults.stand_ins import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, WhmcsApiStandIn, client_email, serve
from tests.system.production.machines import Machines, wait_ready

# Machines share a database server; a SQLite file is one machine's. `.ci/run` runs the
# suite a second time on PostgreSQL, where this runs. Left out of `make check`: it starts
# web, worker and relay processes for several machines.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not backends.TEST_DATABASE_URL, reason="several machines need a database server (BRIDGE_TEST_DATABASE_URL)"
    ),
]

EVENTS = int(os.environ.get("MACHINES_EVENTS", "5000"))
DRAIN_TIMEOUT = float(os.environ.get("MACHINES_DRAIN_TIMEOUT", "900"))
# Planned from the hook's own fields (no WHMCS API look-up): the load measures the bridge.
TYPES = ("ClientAdd", "ClientEdit", "AfterModuleSuspend", "AfterModuleUnsuspend", "AfterModuleTerminate")
WORKERS = 3
# "A fair share": an even split would be a third each.
MIN_SHARE = 0.15


def _settings(base_config: dict[str, Any], twilio_url: str, smtp_port: int) -> dict[str, str]:
    settings = {
        **base_config,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "+14155238886",
        "TWILIO_API_BASE": twilio_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_STARTTLS": "false",
        "MAIL_FROM": "avisos@tuhosting.example",
        # The shared limiter stays on, above what 3 workers can reach here.
        "RATE_LIMIT_WHATSAPP_PER_SECOND": 1000,
        "RATE_LIMIT_EMAIL_PER_SECOND": 1000,
        # The production default, not the unit tests' 0: with thousands of jobs waiting,
        # the relay should leave queued Actions to the workers.
        "RELAY_QUEUED_GRACE_SECONDS": 30,
    }
    return {k: str(v) for k, v in settings.items()}


def _events() -> list[harness.Planned]:
    """EVENTS events of the cheap types in turn, each for its own client (its own phone and email)."""
    registry = WhmcsApiStandIn()  # whmcs_event notes invoice owners there; unused by these types
    picked = (i for i in range(10 * EVENTS) if harness.WHMCS_TYPES[i % len(harness.WHMCS_TYPES)] in TYPES)
    return [harness.whmcs_event(i, registry) for _, i in zip(range(EVENTS), picked, strict=False)]


def test_two_web_and_three_worker_machines_share_one_database_and_redis(base_config, database_url, tmp_path, capsys):
    twilio = TwilioStandIn()
    logs = tmp_path / "logs"
    logs.mkdir()
    machines = Machines(logs)
    events = _events()
    with serve(twilio.handle) as twilio_url, smtp_server() as (inbox, smtp_port):
        settings = _settings(base_config, twilio_url, smtp_port)
        approve_every_template(database_url)  # production: the notices go as approved templates

        def machine_env(name: str) -> dict[str, str]:
            return {**os.environ, **settings, "INSTANCE_PATH": str(tmp_path / name)}

        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]

        web_urls = []
        try:
            for n in (1, 2):
                port = free_port()
                command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
                machines.start(f"web-{n}", [*command, "wsgi:app"], machine_env(f"web-{n}"))
                web_urls.append(f"http://127.0.0.1:{port}")
            worker_pids = {
                machines.start(f"worker-{n}", [*flask, "worker"], machine_env(f"worker-{n}")).pid
                for n in range(1, WORKERS + 1)
            }
            machines.start("relay", [*flask, "relay"], machine_env("relay"))
            for url in web_urls:
                wait_ready(url, machines)

            started = time.monotonic()
            # Each web machine gets every other event, both posting at once (4 senders each).
            loads = [
                harness.Load(url, "", events[n :: len(web_urls)], max_open=10**9) for n, url in enumerate(web_urls)
            ]
            threads = [threading.Thread(target=load.run, daemon=True) for load in loads]
            for thread in threads:
                thread.start()
            db = Database(database_url)
            states = _drain(db, machines, threads, expected_actions=3 * len(events))
            finished = time.monotonic()
            for load in loads:
                if load.error is not None:
                    raise load.error
            posted = max(load.finished_at for load in loads)
            report = _report(db, twilio, inbox, loads, events, worker_pids, states)
            db.dispose()
        finally:
            exits = machines.stop()

    report["seconds"] = {"posting": round(posted - started, 1), "until_all_final": round(finished - started, 1)}
    report["exits"] = exits
    with capsys.disabled():  # the counts and times, on the terminal even when the test passes
        print("\n" + "\n".join(_lines(report)))
    _check(report)


def _drain(db: Database, machines: Machines, threads: list[threading.Thread], expected_actions: int) -> Counter[str]:
    """Wait until the posting is over and all the expected Actions exist and are final."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        machines.check_alive()
        with db.session() as session:
            states = Counter(dict(session.execute(select(Action.state, func.count()).group_by(Action.state)).all()))
        waiting = sum(n for state, n in states.items() if State(state) not in FINAL)
        posting = any(thread.is_alive() for thread in threads)
        if not posting and waiting == 0 and states.total() >= expected_actions:
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"not done after {DRAIN_TIMEOUT:.0f}s: {dict(states)}; logs in {machines.logs}")
        time.sleep(1)


def _report(db, twilio, inbox, loads, events, worker_pids, states) -> dict[str, Any]:
    ids: dict[tuple[str, str], set[int]] = {}
    for load in loads:
        ids.update(load.event_ids)
    planned = {}  # event id -> the Actions it must have, as (channel, recipient)
    for event in events:
        for event_id in ids.get(("whmcs", event.key), ()):
            planned[event_id] = Counter(
                {("plan", "hooks"): 1, ("whatsapp", event.whatsapp_to): 1, ("email", client_email(event.client_id)): 1}
            )
    with db.session() as session:
        stored = session.execute(select(Event.id, Event.external_id)).all()
        actions = session.execute(
            select(Action.id, Action.event_id, Action.channel, Action.recipient, Action.state, Action.dry_run)
        ).all()
        attempts = Counter(session.execute(select(Attempt.action_id)).scalars())
        claims = session.scalars(select(ActionTransition.reason).where(ActionTransition.to_state == "sending")).all()
    found: dict[int, Counter[tuple[str, str]]] = {}
    for action in actions:
        found.setdefault(action.event_id, Counter())[(action.channel, action.recipient)] += 1
    # "attempt 1 by worker bridge-<host>-<pid>" (bridge/work/deliverer.py)
    by_worker = Counter(reason.rsplit(" ", 1)[-1] for reason in claims)
    names = {harness.worker_name(pid) for pid in worker_pids}
    twilio_to = Counter(r.to.removeprefix("whatsapp:") for r in twilio.accepted())
    mail_to = Counter(str(to).lower() for message in inbox.messages for to in message.get_all("To", []))
    return {
        "backend": backends.describe(),
        "events": {
            "posted": len(events),
            "by_type": dict(Counter(e.event_type for e in events)),
            "stored": len(stored),
            "distinct_webhook_ids": len({row.external_id for row in stored}),
            "ids_per_post": sorted({len(v) for v in ids.values()}),
            "posts_answered": len(ids),
            "resent": sum(load.resent for load in loads),
        },
        "actions": {
            "total": len(actions),
            "by_state": dict(states),
            "not_sent": [a.id for a in actions if a.state != State.SENT or a.dry_run][:20],
            "events_not_as_planned": [e for e in planned if found.get(e) != planned[e]][:20],
            "events_unplanned": sorted(set(found) - set(planned))[:20],
            "attempts": sum(attempts.values()),
            "claimed_more_than_once": [a for a, n in attempts.items() if n > 1][:20],
        },
        "twilio": {
            "accepted": twilio_to.total(),
            "requests": len(twilio.requests),
            "twice": sorted(to for to, n in twilio_to.items() if n > 1)[:20],
            "missing": sorted({e.whatsapp_to for e in events} - set(twilio_to))[:20],
        },
        "email": {
            "received": mail_to.total(),
            "twice": sorted(to for to, n in mail_to.items() if n > 1)[:20],
            "missing": sorted({client_email(e.client_id) for e in events} - set(mail_to))[:20],
        },
        "workers": {name: by_worker.get(name, 0) for name in sorted(names)},
        "claims_by_unknown_workers": {k: n for k, n in by_worker.items() if k not in names},
    }


def _lines(report: dict[str, Any]) -> list[str]:
    events, actions, secs = report["events"], report["actions"], report["seconds"]
    per_second = events["posted"] / max(secs["until_all_final"], 0.1)
    return [
        f"several machines on {report['backend']}: 2 web + {WORKERS} worker processes + relay",
        f"  events   {events['posted']} posted {events['by_type']}; stored {events['stored']} "
        f"({events['distinct_webhook_ids']} distinct webhook ids); posts resent {events['resent']}",
        f"  actions  {actions['total']} {actions['by_state']}; attempts {actions['attempts']}",
        f"  twilio   {report['twilio']['accepted']} accepted of {report['twilio']['requests']} requests; "
        f"email {report['email']['received']} received",
        f"  workers  {report['workers']}",
        f"  time     posting {secs['posting']}s; all final after {secs['until_all_final']}s "
        f"({per_second:.1f} events/s); exits {report['exits']}",
    ]


def _check(report: dict[str, Any]) -> None:
    events, actions = report["events"], report["actions"]
    assert events["stored"] == events["distinct_webhook_ids"] == events["posts_answered"] == events["posted"]
    assert events["ids_per_post"] == [1], "a post answered with two different event ids"
    assert actions["total"] == 3 * events["posted"], actions["by_state"]
    assert not actions["events_not_as_planned"] and not actions["events_unplanned"]
    assert not actions["not_sent"], "Actions not sent for real"
    assert actions["attempts"] == actions["total"] and not actions["claimed_more_than_once"]
    assert not report["twilio"]["twice"] and not report["twilio"]["missing"]
    assert report["twilio"]["accepted"] == report["twilio"]["requests"] == events["posted"]
    assert not report["email"]["twice"] and not report["email"]["missing"]
    assert report["email"]["received"] == events["posted"]
    assert not report["claims_by_unknown_workers"]
    total = sum(report["workers"].values())
    assert len(report["workers"]) == WORKERS and total == actions["total"]
    shares = {name: n / total for name, n in report["workers"].items()}
    assert min(shares.values()) >= MIN_SHARE, f"work not spread over the workers: {shares}"
    # Stopped by SIGTERM (the relay has no handler: it dies of it, between passes), none killed.
    assert set(report["exits"].values()) <= {0, -signal.SIGTERM}, f"a process had to be killed: {report['exits']}"
