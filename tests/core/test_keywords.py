"""Opt-out and opt-in words: the whole message, in any case or accent, and nothing else."""

from __future__ import annotations

import pytest

from bridge.core.catalog import InboundPolicy
from bridge.core.keywords import OPT_IN, OPT_OUT, consent_keyword

POLICY = InboundPolicy()


def _found(text: str):
    return consent_keyword(text, POLICY.opt_out_keywords, POLICY.opt_in_keywords)


@pytest.mark.parametrize("text", ["BAJA", "baja", "Baja.", "  báJA!  ", "STOP", "sair", "Disiscrivi", "¡PARAR!"])
def test_an_opt_out_word_as_the_whole_message(text):
    found = _found(text)
    assert found is not None and found[0] == OPT_OUT


@pytest.mark.parametrize("text", ["ALTA", "alta", "Start", "VOLTAR", "iscrivi", "Subscribe"])
def test_an_opt_in_word_as_the_whole_message(text):
    found = _found(text)
    assert found is not None and found[0] == OPT_IN


@pytest.mark.parametrize(
    "text",
    [
        "quiero darme de baja",  # a keyword inside a longer text is a text for staff
        "BAJA por favor",
        "stop it",
        "CANCELAR",  # could mean "cancel my service": a ticket, never an opt-out
        "ANNULLA",
        "",
        "   ",
        "BAJAR",
    ],
)
def test_anything_else_is_not_a_keyword(text):
    assert _found(text) is None


def test_the_configured_word_is_what_is_recorded():
    assert _found("báJA") == (OPT_OUT, "BAJA")
    assert consent_keyword("DESUSCRIBIR", ["DESUSCRIBIR"], []) == (OPT_OUT, "DESUSCRIBIR")  # one line to extend
