"""A ticket's text in a staff alert: secrets hidden, cut short."""

from __future__ import annotations

import pytest

from bridge.core.secret_text import HIDDEN, excerpt, hide_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("mi clave es Hx7-22ab, gracias", "Hx7-22ab"),
        ("La contraseña: perro123", "perro123"),
        ("password=S3cr3t!", "S3cr3t!"),
        ("a senha é abc12345", "abc12345"),
        ("Tarjeta 4111 1111 1111 1111 vence 12/28", "4111 1111 1111 1111"),
        ("la key sk_live_51H8aBcDeFgHiJkLmNoPqRsT por favor", "sk_live_51H8aBcDeFgHiJkLmNoPqRsT"),
    ],
)
def test_secrets_are_hidden(text, secret):
    hidden = hide_secrets(text)
    assert secret not in hidden and HIDDEN in hidden


@pytest.mark.parametrize(
    "text",
    [
        "Mi CBU es 0110599520000012345678",  # 22 digits: not a card
        "Llamame al 0351 15 555-1234",  # a domestic phone
        "Factura A-0088231 por $18.150,00",
        "4111 1111 1111 1112",  # fails the Luhn check
    ],
)
def test_what_is_not_a_secret_is_left_alone(text):
    assert hide_secrets(text) == text


def test_long_text_is_cut_near_300_characters_at_a_word():
    text = "Hola equipo, " + "les escribo por el servicio. " * 40
    cut = excerpt(text)
    assert len(cut) <= 301 and cut.endswith("…") and cut[:-1] == cut[:-1].rstrip()
    assert excerpt("corto\r\n\r\n\r\n\r\nfin") == "corto\n\nfin"
