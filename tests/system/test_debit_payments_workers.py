"""A paid debit is added to its WHMCS invoice once, with real worker processes.

Real: two (or one) `flask --app wsgi worker` processes, the database and Redis, the relay,
a Pagos360 stand-in and a WHMCS stand-in, both local HTTP servers the workers reach over
TCP. WHMCS takes a second to answer GetInvoice, long enough for two workers that each read
"not paid yet" to both pay, unless something else stops them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from rq import Worker
from sqlalchemy import select

from bridge.core.states import FINAL, State
from bridge.services import services
from bridge.store.models import Action, DebitPayment, utcnow
from bridge.wiring import build_relay
from tests.helpers import REPO, actions_of, kill_tree, load_sample, transitions_of
from tests.support.pagos360_stand_in import pagos360_stand_in
from tests.system.faults.stand_ins import WHMCS_IDENTIFIER, WHMCS_SECRET, Answer, WhmcsApiStandIn, serve

# Left out of `make check`: it starts worker processes and kills them mid-call.
pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-pagos360-notifications-0123456789"
DEBIT = "553201"  # the recorded paid debit: 18150.00 for invoice 88231 of client 1042
GET_INVOICE_SECONDS = 1.0


@dataclass
class SlowWhmcs:
    """WHMCS's API over HTTP: GetInvoice answers a second after it read the invoice;
    AddInvoicePayment can be held open.

    `hold_payments`: AddInvoicePayment is received, then never answered (the worker calling
    it is killed meanwhile); `record_held` says whether WHMCS recorded it before that."""

    api: WhmcsApiStandIn = field(default_factory=WhmcsApiStandIn)
    hold_payments: bool = False
    record_held: bool = False
    payment_requests: list[dict[str, str]] = field(default_factory=list)
    payment_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        action = form.get("action")
        if action == "GetInvoice":
            # Read when asked, answered a second later: what a slow WHMCS (or the network
            # behind it) does, and the window in which two workers both read "not paid yet".
            answer = self.api.handle(method, path, headers, raw)
            time.sleep(GET_INVOICE_SECONDS)
            return answer
        if action == "AddInvoicePayment":
            self.payment_requests.append(form)
            if self.hold_payments:
                if self.record_held:
                    self.api.handle(method, path, headers, raw)
                self.payment_arrived.set()
                self.release.wait(60)
                return None  # the caller is gone: close without an answer
            self.payment_arrived.set()
        return self.api.handle(method, path, headers, raw)


@pytest.fixture
def whmcs() -> Iterator[tuple[SlowWhmcs, str]]:
    stand_in = SlowWhmcs()
    with serve(stand_in.handle) as url:
        yield stand_in, url
        stand_in.release.set()


@pytest.fixture
def p360():
    with pagos360_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
def settings(whmcs, p360) -> dict[str, Any]:
    return {
        "WHMCS_API_URL": whmcs[1],
        "WHMCS_API_IDENTIFIER": WHMCS_IDENTIFIER,
        "WHMCS_API_SECRET": WHMCS_SECRET,
        "PAGOS360_WEBHOOK_TOKEN": TOKEN,
        "PAGOS360_API_KEY": p360.api_key,
        "PAGOS360_API_BASE": p360.base_url,
    }


@pytest.fixture
def app(make_app, settings):
    return make_app(**settings)


@pytest.fixture
def start(base_config, settings, tmp_path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a bridge process (`worker`, `relay`) on the test's database, Redis and stand-ins."""
    env = {**os.environ, **{k: str(v) for k, v in {**base_config, **settings}.items()}}
    started: list[subprocess.Popen[bytes]] = []

    def start_one(command: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{command}-{len(started)}.log").open("ab") as log:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "wsgi", command],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return started[-1]

    yield start_one
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_tree(process.pid)
            process.wait()


def _logs(folder: Path) -> str:
    return "\n".join(f"{p.name}:\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(folder.glob("*.log")))


def _wait_listening(app, n: int, logs: Path, timeout: float = 60) -> None:
    """Until n workers are registered with RQ, i.e. waiting on the queue: the jobs posted
    next are then taken by different workers at once, not all by whichever started first."""
    svc = services(app)
    deadline = time.monotonic() + timeout
    while Worker.count(connection=svc.redis, queue=svc.queue.queue) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{n} workers did not start within {timeout:.0f}s\n{_logs(logs)}")
        time.sleep(0.1)


def _notify(app, **body: Any) -> int:
    notification = {**load_sample("pagos360", "webhook.card_debit_request.paid"), **body}
    response = app.test_client().post(f"/webhooks/pagos360/{TOKEN}", json=notification)
    assert response.status_code == 200, response.get_data(as_text=True)
    return int(response.get_json()["event_id"])


def _all_final(app, event_ids: list[int], logs: Path, timeout: float = 90) -> list[Action]:
    """Every Action of these events, once each planning ran and everything is final."""
    deadline = time.monotonic() + timeout
    actions: list[Action] = []
    while time.monotonic() < deadline:
        actions = [a for event_id in event_ids for a in actions_of(services(app), event_id, with_plan=True)]
        planned = all(any(a.channel != "plan" for a in actions if a.event_id == e) for e in event_ids)
        if planned and all(a.state in FINAL for a in actions):
            return actions
        time.sleep(0.2)
    raise AssertionError(f"not carried out: {[(a.id, a.channel, a.state) for a in actions]}\n{_logs(logs)}")


def test_two_notifications_of_one_debit_and_two_workers_pay_it_once(app, whmcs, start, tmp_path):
    """Two notifications for the paid debit, in different words and with another `type`
    (so two events, two plannings, two payment Actions), taken by two workers at once. A relay
    runs too, as in production: it queues again whatever Redis lost."""
    stand_in, _ = whmcs
    start("worker"), start("worker"), start("relay")
    _wait_listening(app, 2, tmp_path)
    event_ids = [
        _notify(app, entity_name="card_debit_request", entity_id=int(DEBIT), type="paid"),
        _notify(app, entity_name="debit_request", entity_id=f"000{DEBIT}", type="approved"),
    ]
    assert len(set(event_ids)) == 2

    actions = _all_final(app, event_ids, tmp_path)

    assert stand_in.api.added_transids() == [DEBIT]
    assert len(stand_in.payment_requests) == 1
    payments = sorted((a for a in actions if a.channel == "whmcs_payment"), key=lambda a: a.id)
    reasons = {a.id: transitions_of(services(app), a.id)[-1][2] for a in actions}
    [payer] = [a for a in payments if reasons[a.id] == "accepted by the provider"]
    assert payer.state == State.SENT
    # The other notification's payment met the claim while the payment was being added, or
    # after it, or found it on the invoice; or its planning came after and planned none.
    allowed = {
        (State.SKIPPED, f"nothing to do: the payment of debit {DEBIT} is being added by action {payer.id}"),
        (State.SENT, f"already recorded by action {payer.id}: added with AddInvoicePayment"),
        (State.SENT, "already recorded on the invoice"),
    }
    for other in payments:
        if other is not payer:
            assert (other.state, reasons[other.id]) in allowed, (other.state, reasons[other.id])
    if len(payments) == 1:
        [none] = [a for a in actions if a.channel == "none"]
        assert reasons[none.id] == f"debit {DEBIT} is already on invoice 88231 (added by action {payer.id})"
    with services(app).db.session() as session:
        [row] = session.scalars(select(DebitPayment)).all()
    assert (row.pagos360_id, row.state, row.action_id, str(row.amount)) == (DEBIT, "done", payer.id, "18150.00")


@pytest.mark.parametrize("landed", [True, False], ids=["whmcs-recorded-it", "whmcs-never-did"])
def test_a_worker_killed_inside_add_invoice_payment_is_never_followed_by_a_second_call(
    landed, app, whmcs, start, run_worker, tmp_path
):
    """The worker dies while WHMCS holds its AddInvoicePayment. The relay gives the attempt
    up and the Action is tried again: WHMCS is asked whether the payment is on the invoice,
    and is never sent the payment a second time, whether or not the first one landed."""
    stand_in, _ = whmcs
    stand_in.hold_payments, stand_in.record_held = True, landed
    event_id = _notify(app)
    worker = start("worker")
    assert stand_in.payment_arrived.wait(60), _logs(tmp_path)
    kill_tree(worker.pid)
    worker.wait()
    stand_in.release.set()
    stand_in.hold_payments = False

    svc = services(app)
    late = utcnow() + timedelta(seconds=svc.settings.relay_sending_timeout_seconds + 1)
    [payment] = [a for a in actions_of(svc, event_id) if a.channel == "whmcs_payment"]
    assert build_relay(svc).run_once(now=late).recovered_sending == [payment.id]
    run_worker(app)

    assert len(stand_in.payment_requests) == 1
    with svc.db.session() as session:
        payment = session.get_one(Action, payment.id)
        row = session.scalar(select(DebitPayment))
    if landed:
        assert payment.state == State.SENT
        assert transitions_of(svc, payment.id)[-1][2] == "already recorded on the invoice"
        assert row.state == "done" and "got no clear answer" in row.note
    else:
        assert payment.state == State.FAILED
        assert "outcome is unknown and the invoice does not show transaction 553201" in payment.last_error
        assert "Not added again" in payment.last_error
        assert row.state == "claimed"
        assert stand_in.api.added_transids() == []
