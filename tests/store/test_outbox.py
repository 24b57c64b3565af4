"""The intake: hooks plan Actions, stored with the event in one transaction."""

from __future__ import annotations

import pytest

from bridge.core.states import State
from bridge.store.models import Action, DebitPayment, Event, string_width
from hooks import REGISTRY, HookContext, PlannedAction
from tests.helpers import actions_of, load_sample, transitions_of


@pytest.fixture
def broken_hook():
    """A handler that raises, registered for the test only."""

    def explode(ctx: HookContext) -> list[PlannedAction]:
        raise RuntimeError("template variable missing")

    REGISTRY.add_hook("ClientAdd", priority=5, name="tests.broken")(explode)
    yield
    REGISTRY._by_event["ClientAdd"] = [r for r in REGISTRY._by_event["ClientAdd"] if r.name != "tests.broken"]


def test_a_broken_hook_is_recorded_as_failed_and_the_others_still_run(broken_hook, post_event, svc, run_worker):
    response = post_event("ClientAdd")
    run_worker()

    assert response.status_code == 202
    actions = actions_of(svc, response.get_json()["event_id"])
    assert [(a.hook, a.channel, a.state) for a in actions] == [
        ("tests.broken", "hook", "failed"),
        ("clients.welcome", "whatsapp", "sent"),
        ("clients.welcome", "email", "sent"),
    ]
    assert "RuntimeError: template variable missing" in actions[0].last_error


def test_hooks_run_in_priority_order():
    calls: list[str] = []
    registry = type(REGISTRY)()
    for name, priority in (("late", 20), ("early", 1), ("middle", 10)):
        registry.add_hook("X", priority=priority, name=name)(lambda ctx, n=name: calls.append(n) or [])
    assert [name for name, _ in registry.handlers_for("X")] == ["early", "middle", "late"]


def test_no_usable_phone_skips_whatsapp_with_the_reason_and_email_still_goes(post_event, svc, run_worker):
    params = {**load_sample("whmcs_hooks", "ClientAdd"), "phonenumber": "no tengo"}
    event_id = post_event("ClientAdd", params).get_json()["event_id"]
    run_worker()

    whatsapp, email = actions_of(svc, event_id)
    assert whatsapp.state == State.SKIPPED and "no usable WhatsApp number in 'no tengo'" in whatsapp.last_error
    assert transitions_of(svc, whatsapp.id) == [(None, "skipped", whatsapp.last_error)]
    assert email.state == State.SENT


def test_no_email_skips_the_email(post_event, svc, run_worker):
    params = {**load_sample("whmcs_hooks", "ClientAdd"), "email": ""}
    event_id = post_event("ClientAdd", params).get_json()["event_id"]
    run_worker()
    _, email = actions_of(svc, event_id)
    assert email.state == State.SKIPPED and email.last_error == "no email address"


def test_the_client_language_picks_the_template(post_event, svc, run_worker):
    params = {**load_sample("whmcs_hooks", "ClientAdd"), "language": "english"}
    event_id = post_event("ClientAdd", params).get_json()["event_id"]
    run_worker()
    whatsapp, email = actions_of(svc, event_id)
    assert whatsapp.content["body"].startswith("Hi Lucía! Welcome to Tu Hosting.")
    assert email.content["subject"] == "Welcome to Tu Hosting"


def test_a_name_with_template_syntax_is_not_evaluated(post_event, svc, run_worker):
    params = {**load_sample("whmcs_hooks", "ClientAdd"), "firstname": "{{ 7*7 }} {% if 1 %}x{% endif %}"}
    event_id = post_event("ClientAdd", params).get_json()["event_id"]
    run_worker()
    whatsapp, _ = actions_of(svc, event_id)
    assert "¡Hola {{ 7*7 }} {% if 1 %}x{% endif %}!" in whatsapp.content["body"]


def test_column_widths_are_read_from_the_model():
    """What the intake, the inbound check and the Pagos360 planning compare lengths with."""
    assert string_width(Action, "recipient") == 320
    assert string_width(Event, "external_id") == 255
    assert string_width(DebitPayment, "pagos360_id") == DebitPayment.__table__.c.pagos360_id.type.length
    with pytest.raises(TypeError, match=r"Event\.payload is not a String column"):
        string_width(Event, "payload")  # JSON: no width to check a length against
    with pytest.raises(TypeError, match=r"Event\.search_text is not a String column"):
        string_width(Event, "search_text")  # Text: unbounded
