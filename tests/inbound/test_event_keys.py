"""A WHMCS hook fired twice for one happening is one event (bridge.core.event_keys): the PHP
file gives each post its own webhook id, so the key is the event's own id."""

from __future__ import annotations

import pytest

from bridge.services import services
from bridge.store.models import Event
from tests.helpers import count, load_sample


def _posted(post_event, event: str, params: dict | None = None) -> int:
    response = post_event(event, params)  # a new webhook id each time
    assert response.status_code == 202, response.get_json()
    return response.get_json()["event_id"]


@pytest.mark.parametrize(
    ("event", "changed"),
    [
        ("OrderPaid", {"orderId": 4411}),
        ("CancelOrder", {"orderid": 4416}),
        ("TicketOpen", {"ticketid": 7732}),
        ("TicketUserReply", {"replyid": 15221}),
        ("TicketAdminReply", {"replyid": 15219}),
        ("AcceptQuote", {"quoteid": 313}),
        ("QuoteStatusChange", {"status": "Dead"}),
        ("CancellationRequest", {"type": "Immediate"}),
    ],
)
def test_the_same_happening_posted_twice_is_one_event_and_another_is_another(event, changed, app, post_event):
    first = _posted(post_event, event)
    again = _posted(post_event, event)
    other = _posted(post_event, event, {**load_sample("whmcs_hooks", event), **changed})
    assert again == first and other != first
    svc = services(app)
    assert count(svc, Event) == 2
    with svc.db.session() as session:
        stored = session.get_one(Event, first)
        assert stored.payload["webhook_id"].startswith("msg_")  # the first post's, kept for the log


def test_accept_quote_and_its_stage_change_are_one_acceptance(app, post_event):
    accepted = _posted(post_event, "AcceptQuote")
    staged = _posted(post_event, "QuoteStatusChange", {"quoteid": 311, "status": "Accepted"})
    lost = _posted(post_event, "QuoteStatusChange", {"quoteid": 311, "status": "Lost"})
    assert staged == accepted and lost != accepted


def test_a_hook_without_its_own_id_falls_back_to_its_webhook_id(app, post_event):
    params = {"userId": 1077, "invoiceId": 88240}  # no orderId
    first = _posted(post_event, "OrderPaid", params)
    second = _posted(post_event, "OrderPaid", params)
    assert first != second
    with services(app).db.session() as session:
        assert "webhook_id" not in session.get_one(Event, first).payload


def test_an_event_of_a_whmcs_user_is_not_filed_under_a_client(app, post_event):
    event_id = _posted(post_event, "UserChangePassword")
    with services(app).db.session() as session:
        assert session.get_one(Event, event_id).client_id is None
    order = _posted(post_event, "OrderPaid")
    with services(app).db.session() as session:
        assert session.get_one(Event, order).client_id == "1077"  # OrderPaid's camelCase userId
