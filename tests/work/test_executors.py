"""The executor table: one executor per channel, the Deliverer generic over them.

Adding a channel is one executor (a provider module, through `ProviderExecutor`) that
declares its own send rate; the Deliverer paces it by that rate and stores the follow-up
Actions it returns, with no branch on the channel's name. Twilio's host is outside this
machine: nothing here reaches it (the channels under test are dry runs or the test's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.states import State
from tests.helpers import actions_of, load_sample, transitions_of

SID = "AC" + "0" * 32
CONFIGURED = {
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": "test-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "TWILIO_API_BASE": "https://twilio.test",
    "SMTP_HOST": "127.0.0.1",
    "RATE_LIMIT_WHATSAPP_PER_SECOND": 7,
    "RATE_LIMIT_EMAIL_PER_SECOND": 3,
    "WHMCS_API_URL": "https://whmcs.test",
    "WHMCS_API_IDENTIFIER": "id",
    "WHMCS_API_SECRET": "secret",
}


def test_every_channel_has_one_executor_paced_by_the_rate_its_provider_declares(make_app):
    from bridge.planning.planner import Planner
    from bridge.services import services
    from bridge.wiring import build_executors
    from bridge.work.payments import PaymentGuard
    from bridge.work.whatsapp_gate import ConsentRecorder, WhatsAppGate

    svc = services(make_app(**CONFIGURED))
    executors = build_executors(svc)

    own = {"plan", "whatsapp_consent", "whatsapp_ticket", "cancellation", "scheduled_notice"}
    assert set(executors) == {*svc.providers, *own}
    assert all(executor.channel == channel for channel, executor in executors.items())
    rates = {channel: (e.rate_key, e.per_second) for channel, e in executors.items() if e.per_second is not None}
    assert rates == {"whatsapp": ("twilio:whatsapp:+14155238886", 7), "email": ("email:127.0.0.1", 3)}
    assert isinstance(executors["plan"], Planner)
    # Money goes through the guard that claims the payment before WHMCS is asked.
    assert isinstance(executors["whmcs_payment"], PaymentGuard)
    # WhatsApp goes through the consent and 24-hour window checks.
    assert isinstance(executors["whatsapp"], WhatsAppGate)
    assert isinstance(executors["whatsapp_consent"], ConsentRecorder)


class _Pager:
    """A provider for a new channel: its own sender and send rate, nothing else."""

    channel = "pager"
    rate_key = "pager:desk"
    per_second = 0.01  # one slot per 100 s: a second page within the test must wait

    def __init__(self) -> None:
        self.paged: list[str] = []

    def send(self, recipient, content):
        from providers import SendResult

        self.paged.append(recipient)
        return SendResult(provider_ref=f"page-{len(self.paged)}")


@dataclass
class _Escalation:
    """An executor whose result asks for one more Action (an email to the client), as the
    planner's does: the Deliverer stores follow-ups from any executor alike."""

    channel: str = "escalation"
    rate_key: str | None = None
    per_second: float | None = None
    escalated: list[int] = field(default_factory=list)

    def carry_out(self, action, attempt_id):
        from bridge.work.executors import Executed
        from hooks import PlannedAction

        self.escalated.append(action.id)
        email = PlannedAction("email", "lucia@radioandina.example", {"subject": "escalated", "body": "escalated"})
        return Executed(provider_ref=f"escalation-{attempt_id}", follow_up=(("escalation", email),))


def _event_with(app, run_worker, *planned):
    """A recorded ClientAdd, planned and sent, plus these Actions stored on it `queued`."""
    from bridge.inbound.signing import signed_request
    from bridge.services import services
    from bridge.store.outbox import store_planned
    from tests.helpers import SECRET

    svc = services(app)
    body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
    event_id = app.test_client().post("/webhooks/whmcs", data=body, headers=headers).get_json()["event_id"]
    run_worker()
    with svc.db.session() as session:
        ids = store_planned(session, svc.queue, event_id, [("test", p) for p in planned])
    return event_id, ids


def test_a_new_provider_is_paced_by_the_rate_it_declares(make_app, run_worker):
    from bridge.services import services
    from bridge.wiring import build_deliverer
    from hooks import PlannedAction

    app = make_app(RATE_LIMIT_MAX_WAIT_SECONDS=0)
    svc = services(app)
    page = PlannedAction("pager", "desk-1", {"text": "call Lucía"})
    _, (first, second) = _event_with(app, run_worker, page, page)
    pager = svc.providers["pager"] = _Pager()  # one provider more, no other change
    deliverer = build_deliverer(svc)

    assert deliverer.deliver(first).state == State.SENT
    # The second page waits for the slot of the rate the provider declared: put back for it.
    assert deliverer.deliver(second).state == State.RETRYING
    assert "rate limit of pager:desk" in transitions_of(svc, second)[-1][2]
    assert pager.paged == ["desk-1"]


def test_the_follow_ups_of_any_executor_are_stored_and_queued(make_app, run_worker):
    from bridge.services import services
    from bridge.wiring import build_deliverer
    from hooks import PlannedAction

    app = make_app()
    svc = services(app)
    event_id, (escalation,) = _event_with(app, run_worker, PlannedAction("escalation", "desk-1", {}))
    before = {a.id for a in actions_of(svc, event_id)}
    deliverer = build_deliverer(svc)
    executor = _Escalation()
    deliverer.executors = {**deliverer.executors, executor.channel: executor}

    assert deliverer.deliver(escalation).state == State.SENT
    assert executor.escalated == [escalation]
    [email] = [a for a in actions_of(svc, event_id) if a.id not in before]
    assert (email.channel, email.state, email.hook) == ("email", State.QUEUED, "escalation")
    run_worker()  # its job was put on the queue after the commit
    [email] = [a for a in actions_of(svc, event_id) if a.id == email.id]
    assert email.state == State.SENT and email.dry_run
