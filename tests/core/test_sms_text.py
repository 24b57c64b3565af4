"""SMS texts in GSM-7: accents written plainly, segments counted, every shipped text in one."""

from __future__ import annotations

import re

import pytest

from bridge.core.catalog import Catalog
from bridge.core.sms_text import gsm7, segments


def test_letters_outside_gsm7_lose_their_accent_and_those_inside_keep_it():
    assert gsm7("¿Cómo estás, Lucía? Ñandú, ça va… “sí”") == '¿Como estas, Lucia? Ñandu, ca va... "si"'
    assert gsm7("é è ü ñ à ¡ £ €") == "é è ü ñ à ¡ £ €"  # all in GSM-7 (€ through the extension table)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("á" * 70, 1),
        ("á" * 71, 2),
    ],
)
def test_segments_are_counted_as_the_network_counts_them(text, count):
    assert segments(text) == count


def test_every_shipped_sms_text_fits_one_segment_with_realistic_values():
    catalog = Catalog()
    values = {
        "firstname": "Martina",
        "company_name": "Tu Hosting",
        "client_area_url": "https://clientes.example.com/clientarea.php",
        "invoice_number": "A-0088231",
        "invoice_total": "$18.150,00",
        "invoice_url": "https://clientes.example.com/viewinvoice.php?id=88231",
        "due_date": "10 de noviembre de 2026",
        "quote_number": "1042",
        "quote_total": "$45.000,00",
        "quote_url": "https://clientes.example.com/viewquote.php?id=1042",
        "valid_until": "30 de noviembre de 2026",
        "service_name": "Radio Streaming Pro",
        "service_domain": "radioandina.example",
        "domain_name": "radioandina.example",
        "ticket_number": "418305",
        "ticket_url": "https://clientes.example.com/viewticket.php?tid=418305&c=Qm7xT2pa",
        "debit_amount": "$18.150,00",
        "count": 3,
        "rejected_cycles": 2,
    }
    sms_parts = [(lang, event) for lang, event, part in catalog.parts() if part == "sms"]
    assert len(sms_parts) == 22 * 4
    for language, event in sms_parts:
        text = gsm7(catalog.render(language, event, "sms", values))
        assert segments(text) == 1, (language, event, len(text), text)
        assert not re.search(r"\{\{|\{%", text), (language, event)
