"""Secrets never reach the database: keys dropped, card numbers masked, phones kept."""

from bridge.redaction import REDACTED, redact


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
