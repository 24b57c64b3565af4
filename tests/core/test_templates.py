"""Every message template, with whatever a customer may have typed into WHMCS."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.catalog import Catalog
from bridge.core.settings import DEFAULT_CONFIG_DIR

CATALOG = Catalog(DEFAULT_CONFIG_DIR)
PARTS = sorted(CATALOG.parts())
NASTY = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["{{ 7*191 }}", "{% for x in range(9**9) %}", "مرحبا بالعالم", "👩‍💻🇦🇷", "\u202eevil", "\x00"]),
    st.just("{{ x }}{% raw %}" * 800 + "ñ" * 2000),  # 10 KB of template-looking text
)


@settings(max_examples=200, deadline=None)
@given(where=st.sampled_from(PARTS), name=NASTY, other=NASTY)
def test_any_customer_text_renders_verbatim_and_is_never_evaluated(where, name, other):
    language, event, part = where
    values = {
        key: other
        for key in (
            "lastname",
            "fullname",
            "companyname",
            "email",
            "company_name",
            "client_area_url",
            "invoice_number",
            "invoice_total",
            "due_date",
            "date_paid",
            "invoice_url",
            "service_name",
            "service_domain",
            "suspend_reason",
            "quote_number",
            "quote_subject",
            "quote_total",
            "valid_until",
            "quote_url",
            "domain_name",
            "card_brand",
            "card_last_four",
            "debit_day",
            "reason",
            "debit_amount",
            "debit_id",
            "debit_state",
            "adhesion_id",
            "client_id",
            "event_name",
            "invoice_balance",
            "ticket_number",
            "ticket_url",
            "reply_text",
            "admin_name",
            "subject",
            "whatsapp_number",
            "whatsapp_text",
            "why",
        )
    }
    values["firstname"] = name
    text = CATALOG.render(language, event, part, values)
    # Nothing the customer typed was evaluated: 7*191 would have printed 1337.
    if "1337" not in name + other:
        assert "1337" not in text
    if part == "whatsapp" and event != "StaffAlert":  # every client's WhatsApp greets them by name, verbatim
        assert name.strip() in text


def test_every_client_notice_is_written_in_every_language():
    client_parts = {(e, p) for (_, e, p) in PARTS if not p.startswith("staff")}
    for language in ("es", "en", "pt_BR", "it"):
        missing = {(e, p) for (e, p) in client_parts if (language, e, p) not in set(PARTS)}
        assert not missing, (language, sorted(missing))
    # 16 WHMCS events, 4 direct-debit notices and the notices of the day (WhatsApp and email);
    # the staff's ticket answer, the staff alert's WhatsApp and 3 answers to the customer's own
    # WhatsApp message (WhatsApp only); the SMS fallback of the 22 notices that may go outside
    # the window; the 10 kinds of line the notices of the day are made of.
    assert len(client_parts) == 21 * 3 + 1 + 1 + 3 + 22 + 10
