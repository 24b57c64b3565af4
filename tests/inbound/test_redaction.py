"""Secrets never reach the database: keys dropped, card numbers masked, phones kept."""

import json

from bridge.core.secret_keys import is_secret_key, normalise_key
from bridge.inbound.redaction import REDACTED, redact
from bridge.store.models import Event
from tests.helpers import REPO

# Shared with the PHP hook file's test (tests/php/test_secret_keys.py): one list, two implementations.
SECRET_KEYS = json.loads((REPO / "tests" / "fixtures" / "secret_keys.json").read_text())


def test_secret_keys_are_dropped_at_any_depth():
    payload = {
        "password": "a",
        "params": {"serverpassword": "b", "serveraccesshash": "c", "username": "u", "cardnum": "4111111111111111"},
        "list": [{"Password": "d", "keep": 1}],
    }
    assert redact(payload) == {"params": {"username": "u"}, "list": [{"keep": 1}]}


def test_card_numbers_in_text_are_masked_but_phones_and_ids_are_kept():
    payload = {
        "notes": "paid with 4111-1111-1111-1111 yesterday",
        "phonenumber": "4111111111111111",  # a phone field is never touched
        "invoicenum": "0001234567890123",  # fails the Luhn check: not a card
    }
    assert redact(payload) == {
        "notes": f"paid with {REDACTED} yesterday",
        "phonenumber": "4111111111111111",
        "invoicenum": "0001234567890123",
    }


def test_key_names_are_split_into_words():
    assert normalise_key("clientSecret") == "client_secret"
    assert normalise_key("APIToken") == "api_token"
    assert normalise_key("newpassword2") == "newpassword_2"
    assert normalise_key("X-Api-Key") == "x_api_key"
    assert normalise_key("csrf.token") == "csrf_token"


def test_the_secret_key_rule_matches_the_shared_list():
    assert [key for key in SECRET_KEYS["secret"] if not is_secret_key(key)] == []
    assert [key for key in SECRET_KEYS["kept"] if is_secret_key(key)] == []


def test_a_signed_event_stores_none_of_the_secret_keys_and_every_look_alike(post_event, svc):
    """Through the real webhook: every key of the shared list, at the top, nested and in a list."""
    keys = SECRET_KEYS["secret"] + SECRET_KEYS["kept"]
    fields = {key: f"value-{index:03d}" for index, key in enumerate(keys)}
    params = {"userid": 1042, **fields, "params": dict(fields), "items": [dict(fields)]}

    response = post_event("ClientEdit", params)

    assert response.status_code == 202, response.get_json()
    with svc.db.session() as session:
        stored = session.get(Event, response.get_json()["event_id"]).payload["params"]
    kept = set(SECRET_KEYS["kept"])
    assert set(stored) == kept | {"userid", "params", "items"}
    assert set(stored["params"]) == kept
    assert set(stored["items"][0]) == kept
    text = json.dumps(stored)
    assert [key for key in SECRET_KEYS["secret"] if fields[key] in text] == []
