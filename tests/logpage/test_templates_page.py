"""The delivery log's template page: every WhatsApp notice with its template's state."""

from __future__ import annotations

import re

from bridge.scheduled.template_sync import sync_templates
from bridge.services import services
from providers.twilio_content import DryRunContent


def _row(html: str, event: str, language: str) -> str:
    match = re.search(
        rf'<tr class="template-row" data-event="{event}" data-language="{language}">(.*?)</tr>', html, re.S
    )
    assert match, f"no row for {event} {language}"
    return match.group(1)


def test_the_page_lists_each_notice_missing_until_the_sync_then_approved(log_app, staff_client):
    svc = services(log_app)
    notices = svc.catalog.whatsapp_notices()

    before = staff_client.get("/log/templates")
    assert before.status_code == 200
    assert f"<strong>{len(notices)} have no approved template</strong>" in before.text
    assert "missing" in _row(before.text, "InvoiceCreated", "pt_BR") and "none yet" in before.text

    sync_templates(svc.db, svc.catalog, DryRunContent())  # no Twilio credentials: a dry run
    after = staff_client.get("/log/templates").text

    assert "every one has an approved template" in after
    row = _row(after, "InvoiceCreated", "pt_BR")
    assert "approved (dry run)" in row and row.count("invoice_created_pt_br_v1") == 2
    assert len(re.findall(r'class="template-row"', after)) == len(notices)


def test_the_page_is_for_staff_only(log_app):
    response = log_app.test_client().get("/log/templates")
    assert response.status_code == 302 and "/log/login" in response.headers["Location"]
