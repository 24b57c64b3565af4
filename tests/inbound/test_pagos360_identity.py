"""A Pagos360 notification's identity: one notification is one event however it is spelled.

Pagos360 (and whoever replays its notifications) may name the same entity under either of
its accepted names and write its id as a number, a string, or with leading zeros. Each of
those must land on the one stored event, or the same debit is planned (and paid) twice.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.services import services
from bridge.store.models import Event
from tests.helpers import count

TOKEN = "t0ken-for-pagos360-notifications-0123456789"
PAID = {"payload": {"id": 553201, "external_reference": "whmcs-client-1042"}}


@pytest.fixture
def app(make_app):
    return make_app(PAGOS360_WEBHOOK_TOKEN=TOKEN)


def _post(app, **body):
    response = app.test_client().post(f"/webhooks/pagos360/{TOKEN}", json={**PAID, **body})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["event_id"]


def _stored(app):
    with services(app).db.session() as session:
        return [(e.type, e.external_id, e.payload["entity_name"], e.payload["entity_id"]) for e in
                session.scalars(select(Event).order_by(Event.id))]  # fmt: skip


def test_one_notification_spelled_five_ways_is_one_event(app):
    spellings = [
        {"entity_name": "card_debit_request", "entity_id": 553201},
        {"entity_name": "debit_request", "entity_id": 553201},  # the entity's other name
        {"entity_name": "card_debit_request", "entity_id": "553201"},  # the id as a string
        {"entity_name": "card_debit_request", "entity_id": "000553201"},  # leading zeros
        {"entity_name": "debit_request", "entity_id": "0553201"},
    ]
    event_ids = {_post(app, type="paid", **spelling) for spelling in spellings}
    assert len(event_ids) == 1
    assert _stored(app) == [("card_debit_request", "card_debit_request:553201:paid", "card_debit_request", "553201")]


def test_a_paid_and_a_later_reverted_stay_two_events(app):
    paid = _post(app, entity_name="card_debit_request", entity_id=553201, type="paid")
    reverted = _post(app, entity_name="debit_request", entity_id="00553201", type="reverted")
    assert paid != reverted
    assert [external_id for _, external_id, _, _ in _stored(app)] == [
        "card_debit_request:553201:paid",
        "card_debit_request:553201:reverted",
    ]


def test_an_adhesion_under_its_other_name_is_the_same_adhesion(app):
    first = _post(app, entity_name="card_adhesion", entity_id=20871, type="signed")
    assert _post(app, entity_name="adhesion", entity_id="020871", type="signed") == first
    assert count(services(app), Event) == 1


def test_ids_that_are_not_numbers_are_kept_exactly_as_sent(app):
    # Only a number has a canonical spelling: "ab-007" is not "ab-7", nor "AB-007".
    ids = {_post(app, entity_name="payment_request", entity_id=spelled, type="paid") for spelled in
           ("ab-007", "ab-7", "AB-007", "ab-007")}  # fmt: skip
    assert len(ids) == 3
    assert sorted(entity_id for *_, entity_id in _stored(app)) == ["AB-007", "ab-007", "ab-7"]


def test_zero_is_still_an_id_of_its_own(app):
    assert _post(app, entity_name="payment_request", entity_id="000", type="paid") == _post(
        app, entity_name="payment_request", entity_id=0, type="paid"
    )
    assert _stored(app)[0][1] == "payment_request:0:paid"
