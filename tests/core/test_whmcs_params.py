"""One reading of a WHMCS hook's parameters: the client id filed with the event at intake,
the client the planner looks up and the name the log page lists all come from the same
fields, wherever the hook put them (a module hook nests them under `params`)."""

from __future__ import annotations

import copy

from sqlalchemy import select

from bridge.core.states import State
from bridge.logpage.queries import client_name
from bridge.store.models import Event
from tests.helpers import actions_of, load_sample, plan_of


def _module_event_naming_the_client_as(key: str) -> dict:
    """AfterModuleSuspend whose client id is only in clientsdetails, under `key`."""
    params = copy.deepcopy(load_sample("whmcs_hooks", "AfterModuleSuspend"))
    params["params"].pop("userid")
    details = params["params"]["clientsdetails"]
    details.pop("userid")
    details.pop("id", None)
    details[key] = 1042
    return params


def test_the_planner_finds_the_client_that_intake_filed_the_event_under(post_event, svc, run_worker):
    event_id = post_event("AfterModuleSuspend", _module_event_naming_the_client_as("client_id")).get_json()["event_id"]
    with svc.db.session() as session:
        assert session.scalar(select(Event.client_id).where(Event.id == event_id)) == "1042"

    run_worker()

    assert plan_of(svc, event_id).state == State.SENT
    whatsapp = [a for a in actions_of(svc, event_id) if a.channel == "whatsapp"]
    assert len(whatsapp) == 1 and whatsapp[0].recipient == "+5493515551234"


def test_the_log_page_lists_a_module_events_client_by_name():
    params = load_sample("whmcs_hooks", "AfterModuleSuspend")
    assert client_name({"event": "AfterModuleSuspend", "params": params}) == "Lucía Fernández"
