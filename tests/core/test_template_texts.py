"""WhatsApp template texts: the numbered form WhatsApp approves, and its rules refused
before anything is submitted, naming the event."""

from __future__ import annotations

import shutil

import pytest

from bridge.core.catalog import Catalog
from bridge.core.settings import DEFAULT_CONFIG_DIR, SettingsError
from bridge.core.template_texts import TemplateRuleBroken, template_name, template_text

SAMPLES = {"firstname": "Lucía", "invoice_number": "88231", "invoice_url": "https://x.example/i/1"}


def test_named_variables_become_numbers_in_the_order_they_are_written():
    text = template_text(
        "InvoiceCreated",
        "es",
        "Hola {{ firstname }}, tu factura {{invoice_number}} está en {{ invoice_url }} . Gracias",
        SAMPLES,
    )
    assert text.body == "Hola {{1}}, tu factura {{2}} está en {{3}} . Gracias"
    assert text.variables == ("firstname", "invoice_number", "invoice_url")
    assert text.samples == ("Lucía", "88231", "https://x.example/i/1")


def test_a_variable_written_twice_takes_two_numbers():
    text = template_text("ClientAdd", "es", "Hola {{ firstname }}. Chau {{ firstname }}, gracias", SAMPLES)
    assert text.body == "Hola {{1}}. Chau {{2}}, gracias"
    assert text.variables == ("firstname", "firstname")


def test_line_breaks_and_runs_of_spaces_are_one_space():
    text = template_text("ClientAdd", "es", "Hola   {{ firstname }},\n bienvenida", SAMPLES)
    assert text.body == "Hola {{1}}, bienvenida"


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("{{ firstname }}, tu factura está lista", "starts with the variable firstname"),
        ("Tu factura está en {{ invoice_url }}", "ends with the variable invoice_url"),
        ("Tu factura está en {{ invoice_url }}.", "ends with the variable invoice_url"),
        ("Hola {{ firstname }} {{ invoice_number }} listo", "firstname and invoice_number are side by side"),
        ("Hola {{ firstname }}, - {{ invoice_number }} listo", "side by side"),
        ("Hola {% if firstname %}{{ firstname }}{% endif %}, listo", "no tags, filters or expressions"),
        ("Hola {{ firstname | upper }}, listo", "no tags, filters or expressions"),
        ("Hola {{ client.firstname }}, listo", "no tags, filters or expressions"),
        ("Hola {{ lastname }}, listo", "no sample value for lastname"),
        ("   ", "empty"),
        ("Hola " + "a" * 1100 + " {{ firstname }} listo", "WhatsApp allows 1024"),
    ],
)
def test_what_whatsapp_would_refuse_is_refused_naming_the_event(source, rule):
    with pytest.raises(TemplateRuleBroken) as refused:
        template_text("InvoiceCreated", "pt_BR", source, SAMPLES)
    assert rule in str(refused.value)
    assert "[InvoiceCreated].whatsapp_template (pt_BR)" in str(refused.value)


def test_a_changed_text_or_order_is_a_new_digest_a_better_sample_is_not():
    first = template_text("ClientAdd", "es", "Hola {{ firstname }}, factura {{ invoice_number }} ok", SAMPLES)
    reordered = template_text("ClientAdd", "es", "Factura {{ invoice_number }}, hola {{ firstname }} ok", SAMPLES)
    resampled = template_text(
        "ClientAdd", "es", "Hola {{ firstname }}, factura {{ invoice_number }} ok", {**SAMPLES, "firstname": "Ana"}
    )
    other_language = template_text("ClientAdd", "en", "Hola {{ firstname }}, factura {{ invoice_number }} ok", SAMPLES)
    assert len({first.digest, reordered.digest, other_language.digest}) == 3
    assert resampled.digest == first.digest


def test_names_are_what_whatsapp_accepts():
    assert template_name("InvoiceCreated", "es", 1) == "invoice_created_es_v1"
    assert template_name("AfterModuleSuspend", "pt_BR", 3) == "after_module_suspend_pt_br_v3"


def test_every_notice_routed_to_whatsapp_has_a_template_text_in_every_language():
    catalog = Catalog()
    notices = catalog.whatsapp_notices()
    assert len(notices) == len({event for event, _ in notices}) * 4
    assert [notice for notice in notices if catalog.template_text(*notice) is None] == []
    # Each text uses only variables the event's own WhatsApp message fills.
    for event, language in notices:
        text = catalog.template_text(event, language)
        assert text is not None
        for name in text.variables:
            assert "{{ " + name + " }}" in (DEFAULT_CONFIG_DIR / "messages" / f"{language}.toml").read_text()


def test_a_broken_template_text_stops_start_up_naming_file_and_event(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    messages = config / "messages" / "it.toml"
    text = messages.read_text()
    start = text.index("whatsapp_template", text.index("[InvoicePaid]"))
    end = text.index("\n", start)
    messages.write_text(text[:start] + 'whatsapp_template = "{{ firstname }} pagata"' + text[end:])
    with pytest.raises(SettingsError) as refused:
        Catalog(config)
    assert "it.toml" in str(refused.value) and "[InvoicePaid].whatsapp_template (it)" in str(refused.value)
    assert "starts with the variable firstname" in str(refused.value)
