"""Phone numbers from WHMCS to WhatsApp's E.164, over real-world inputs."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.phones import whatsapp_number

CASES = [
    # Argentina: the domestic 0 and 15 go, the mobile 9 comes.
    ("0351 15 555-1234", None, "AR", "+5493515551234"),
    ("351 555-1234", None, "AR", "+5493515551234"),
    ("011 15 4444-5555", None, "AR", "+5491144445555"),
    ("+54.3515551234", None, None, "+5493515551234"),  # WHMCS phonenumberformatted
    ("+54.0351155551234", None, None, "+5493515551234"),  # ... with the domestic 0 and 15 kept
    ("+54.03511555551234", None, None, None),  # one digit too many: not a number
    ("+54 9 11 4444-5555", None, None, "+5491144445555"),
    ("1144445555", 54, None, "+5491144445555"),
    # Brazil, Spain, Italy
    ("(11) 91234-5678", None, "BR", "+5511912345678"),
    ("+55.11912345678", None, None, "+5511912345678"),
    ("612 34 56 78", None, "ES", "+34612345678"),
    ("+34.612345678", None, None, "+34612345678"),
    ("312 345 6789", None, "IT", "+393123456789"),
    ("3123456789", 39, None, "+393123456789"),
    # Nothing usable
    ("", None, "AR", None),
    (None, None, "AR", None),
    ("n/a", None, "AR", None),
    ("123", None, "AR", None),
    ("+999 12345", None, None, None),
    ("0351 15 555", None, "AR", None),
]


@pytest.mark.parametrize(("raw", "phonecc", "country", "expected"), CASES)
def test_real_world_inputs(raw, phonecc, country, expected):
    assert whatsapp_number(raw, phonecc, country) == expected


@given(
    st.text(max_size=40),
    st.one_of(st.none(), st.integers(0, 999)),
    st.sampled_from([None, "AR", "BR", "ES", "IT", "ZZ"]),
)
def test_never_crashes_and_never_invents_a_number(raw, phonecc, country):
    result = whatsapp_number(raw, phonecc, country)
    if result is None:
        return
    assert result.startswith("+") and phonenumbers.is_valid_number(phonenumbers.parse(result))
    # Every digit of the national number came from the input, in order (the Argentine
    # mobile 9 aside; the dropped 0 and 15 make it a subsequence, not a substring).
    given_digits = iter(ch for ch in raw if ch.isdigit())
    national = str(phonenumbers.parse(result).national_number)
    if result.startswith("+549"):
        national = national.removeprefix("9")
    assert all(digit in given_digits for digit in national)
