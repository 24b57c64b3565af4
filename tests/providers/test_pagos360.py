"""The Pagos360 client against a stand-in of its API, over real HTTP on the loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest

from providers.base import ProviderError
from providers.pagos360 import NotFound, Pagos360Api
from tests.support.pagos360_stand_in import Pagos360StandIn, load, pagos360_stand_in


@pytest.fixture
def p360() -> Iterator[Pagos360StandIn]:
    with pagos360_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
def api(p360: Pagos360StandIn) -> Pagos360Api:
    return Pagos360Api(p360.api_key, p360.base_url + "/", timeout=2.0)


def create(api: Pagos360Api, **overrides):
    params = {
        "card_adhesion_id": 20871,
        "amount": Decimal("18150"),
        "month": 1,
        "year": 2027,
        "description": "Factura A-0091005",
        "metadata": {"whmcs_invoice_id": 91005},
    }
    return api.create_card_debit_request(**(params | overrides))


def raised(call, *args, **kwargs) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_reads_a_card_adhesion(api, p360):
    assert api.get_card_adhesion(20871) == load("card_adhesion.signed")
    method, path, body = p360.requests[-1]
    assert (method, path, body) == ("GET", "/card-adhesion/20871", None)
    assert p360.received[-1].headers["authorization"] == f"Bearer {p360.api_key}"


def test_reads_a_card_debit_request_and_sees_state_changes(api, p360):
    assert api.get_card_debit_request(553201)["state"] == "paid"
    assert api.get_card_debit_request("553202")["state_comment"] == "Fondos insuficientes"
    p360.set_adhesion_state(20871, "canceled", "Tarjeta rechazada por el emisor")
    assert api.get("card_adhesion", 20871)["state"] == "canceled"
    assert [path for _, path, _ in p360.requests][-1] == "/card-adhesion/20871"


def test_get_maps_notification_entity_names_to_paths(api, p360):
    for name, path in [
        ("adhesion", "/adhesion/7"),
        ("debit_request", "/debit-request/7"),
        ("payment_request", "/payment-request/7"),
    ]:
        with pytest.raises(NotFound):
            api.get(name, 7)
        assert p360.requests[-1][1] == path
    error = raised(api.get, "invoice", 7)
    assert error.permanent and error.code == "unknown_entity"


@pytest.mark.parametrize("bad_id", ["../account", "7/cancel", "0", "-3", "", "٣"])
def test_ids_that_are_not_positive_integers_never_reach_a_url(api, p360, bad_id):
    error = raised(api.get_card_adhesion, bad_id)
    assert error.permanent and p360.requests == []


def test_creates_a_debit_request_wrapped_in_its_block(api, p360):
    created = create(api)
    assert created["state"] == "pending" and created["id"] in p360.debit_requests
    assert created["card_adhesion"]["id"] == 20871 and created["metadata"] == {"whmcs_invoice_id": 91005}
    method, path, body = p360.requests[-1]
    assert (method, path) == ("POST", "/card-debit-request")
    assert body == {
        "card_debit_request": {
            "card_adhesion_id": 20871,
            "month": 1,
            "year": 2027,
            "amount": 18150.0,
            "description": "Factura A-0091005",
            "metadata": {"whmcs_invoice_id": 91005},
        }
    }
    sent = p360.received[-1]
    assert b'"amount": 18150.00,' in sent.body  # a number, with its 2 decimals as written
    assert sent.headers["authorization"] == f"Bearer {p360.api_key}"
    assert sent.headers["content-type"] == "application/json"
    # and it is there to be read back
    assert api.get_card_debit_request(created["id"])["state"] == "pending"


def test_accents_and_cents_travel_intact(api, p360):
    created = create(api, amount=Decimal("1234.5"), description="Cuota única de diciembre")
    assert b'"amount": 1234.50,' in p360.received[-1].body
    assert created["amount"] == 1234.5 and created["description"] == "Cuota única de diciembre"


@pytest.mark.parametrize(
    "amount", [Decimal("0"), Decimal("-5"), Decimal("10.005"), Decimal("100000000"), Decimal("NaN")]
)
def test_amounts_pagos360_would_round_or_refuse_are_refused_before_sending(api, p360, amount):
    error = raised(create, api, amount=amount)
    assert error.permanent and error.code == "validation" and p360.requests == []


def test_missing_entity_is_not_found_and_skipped(api):
    error = raised(api.get_card_debit_request, 999999)
    assert isinstance(error, NotFound) and error.permanent and error.skip and error.http_status == 404


def test_a_refused_key_is_permanent(p360):
    wrong = Pagos360Api("not-the-key", p360.base_url)
    error = raised(wrong.get_card_adhesion, 20871)
    assert error.permanent and not error.skip and error.http_status == 401 and error.code == "auth"
    assert "Invalid API Key" in error.message


def test_forbidden_is_permanent(api, p360):
    p360.fail_next(1, 403)
    error = raised(api.get_card_adhesion, 20871)
    assert error.permanent and error.code == "auth"


@pytest.mark.parametrize("status", [400, 422])
def test_validation_errors_are_permanent_and_carry_pagos360s_message(api, p360, status):
    p360.fail_next(1, status, "El importe supera el máximo permitido")
    error = raised(create, api)
    assert error.permanent and error.http_status == status and error.code == "validation"
    assert "El importe supera el máximo permitido" in str(error)


def test_a_debit_on_an_adhesion_that_is_not_signed_is_refused(api, p360):
    p360.set_adhesion_state(20871, "canceled")
    error = raised(create, api)
    assert error.permanent and error.http_status == 400
    assert "card_adhesion_id: The card adhesion is not signed." in error.message
    assert len(p360.debit_requests) == 2


def test_down_is_transient(api, p360):
    p360.down = True
    error = raised(api.get_card_adhesion, 20871)
    assert not error.permanent and error.http_status == 503
    p360.down = False
    assert api.get_card_adhesion(20871)["id"] == 20871


def test_throttling_is_transient_with_the_hint(api, p360):
    p360.fail_next(2, 429, retry_after=30)
    error = raised(api.get_card_adhesion, 20871)
    assert not error.permanent and error.retry_after == 30.0
    assert raised(api.get_card_adhesion, 20871).http_status == 429
    assert api.get_card_adhesion(20871)["state"] == "signed"


def test_a_timeout_is_transient(p360):
    p360.delay = 1.0
    error = raised(Pagos360Api(p360.api_key, p360.base_url, timeout=0.2).get_card_adhesion, 20871)
    assert not error.permanent and error.http_status is None and error.code is None
    assert "Timeout" in error.message


def test_a_timeout_while_creating_says_the_debit_may_exist(p360):
    p360.delay = 1.0
    error = raised(create, Pagos360Api(p360.api_key, p360.base_url, timeout=0.2))
    assert not error.permanent and error.code == "outcome_unknown"


def test_a_server_error_while_creating_says_the_debit_may_exist(api, p360):
    p360.fail_next(1, 500)
    error = raised(create, api)
    assert not error.permanent and error.code == "outcome_unknown"


def test_nobody_listening_is_transient(p360):
    api = Pagos360Api(p360.api_key, p360.base_url)
    with pagos360_stand_in() as gone:
        closed = gone.base_url
    error = raised(Pagos360Api(p360.api_key, closed).get_card_adhesion, 20871)
    assert not error.permanent and api.get_card_adhesion(20871)["id"] == 20871


def test_the_api_key_never_appears_in_an_error(p360):
    key = p360.api_key
    api = Pagos360Api(key, p360.base_url, timeout=0.2)
    errors = [raised(Pagos360Api(key + "x", p360.base_url).get_card_adhesion, 20871)]
    for status in (400, 403, 404, 422, 429, 500, 503):
        p360.fail_next(1, status, f"echo: Bearer {key}")
        errors.append(raised(create, api))
    p360.delay = 1.0
    errors += [raised(api.get_card_adhesion, 20871), raised(create, api)]
    assert len(errors) == 10
    for error in errors:
        assert key not in str(error) and key not in repr(error) and key not in json.dumps(vars(error))
        assert error.__cause__ is None
    assert key not in repr(api)
