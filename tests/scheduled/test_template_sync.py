"""WhatsApp templates, their whole life: made from the message files, submitted for approval,
followed until WhatsApp decides, and sent as the approved version.

Twilio's Content API is outside this machine: it is played at the HTTP edge by a stateful
stand-in that first passes every request to Prism serving Twilio's own description of the
API (tests/support/content_stand_in.py), so a request the description refuses fails here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select

from bridge.core.settings import DEFAULT_CONFIG_DIR
from bridge.scheduled.template_sync import REJECTED_TYPE, poll_templates, sync_templates
from bridge.services import services
from bridge.store.models import Event, WhatsAppTemplate, utcnow
from bridge.store.templates import missing_templates, template_states, usable_templates
from bridge.wiring import build_content_api
from providers.twilio_content import DryRunContent
from tests.helpers import SECRET, actions_of, load_sample
from tests.support.content_stand_in import ContentStandIn, content_prism
from tests.support.prism import PrismTwilio

SID = "AC" + "0" * 32
MESSAGES_URL = f"https://twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
NOW = timedelta(0)  # poll every version under review, however recently asked


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismTwilio]:
    with content_prism() as server:
        yield server


@pytest.fixture
def content(prism: PrismTwilio) -> Iterator[ContentStandIn]:
    with ContentStandIn(prism) as stand_in:
        yield stand_in


def _twilio(content: ContentStandIn) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": "test-token",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "TWILIO_API_BASE": "https://twilio.test",
        "TWILIO_CONTENT_API_BASE": content.base_url,
    }


def _rows(svc):
    with svc.db.session() as session:
        return list(session.scalars(select(WhatsAppTemplate).order_by(WhatsAppTemplate.id)))


def _row(svc, event, language, version=1):
    return next(r for r in _rows(svc) if (r.event_type, r.language, r.version) == (event, language, version))


# The notices most tests follow: a few, so that each sync asks Prism a few dozen times, not
# a few hundred (the first test syncs every notice the shipped config has).
FEW = ("ClientAdd", "InvoiceCreated", "InvoicePaid", "DomainDelete")


def _config_with(tmp_path, edit=None, staff_emails=(), whatsapp_for=FEW):
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    routing = config / "routing.toml"

    def keep_only(match: re.Match[str]) -> str:
        if match.group(2) in whatsapp_for:
            return match.group(0)
        channels = [c for c in json.loads(match.group(3)) if c != "whatsapp"]
        return f"{match.group(1)}{json.dumps(channels)}"

    routing.write_text(re.sub(r"(\[events\.(\w+)\]\nchannels = )(\[[^\]]*\])", keep_only, routing.read_text()))
    if edit is not None:
        language, event, new_text = edit
        messages = config / "messages" / f"{language}.toml"
        text = messages.read_text()
        start = text.index("whatsapp_template", text.index(f"[{event}]"))
        end = text.index("\n", start)
        messages.write_text(
            text[:start] + f"whatsapp_template = {json.dumps(new_text, ensure_ascii=False)}" + text[end:]
        )
    if staff_emails:
        text = routing.read_text().replace("emails = []", f"emails = {json.dumps(list(staff_emails))}", 1)
        routing.write_text(text)
    return config


def test_sync_submits_every_whatsapp_notice_once_as_twilio_describes_it(make_app, content):
    svc = services(make_app(**_twilio(content)))
    notices = svc.catalog.whatsapp_notices()

    report = sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))

    assert content.refused_by_prism == []
    assert report.errors == [] and report.no_text == []
    assert len(report.made) == len(notices) == len(content.creates())
    for body in content.creates():
        numbered = body["types"]["twilio/text"]["body"]
        assert set(body["variables"]) == {str(n) for n in range(1, len(body["variables"]) + 1)}
        assert all(f"{{{{{n}}}}}" in numbered for n in body["variables"]) and "{{ " not in numbered
        assert body["language"] in svc.catalog.languages
    rows = _rows(svc)
    assert {(r.event_type, r.language) for r in rows} == set(notices)
    assert {r.status for r in rows} == {"received"} and not any(r.dry_run for r in rows)
    invoice = _row(svc, "InvoiceCreated", "es")
    template = content.templates[invoice.content_sid]
    assert (template.name, template.category) == ("invoice_created_es_v1", "UTILITY")
    assert template.friendly_name == "invoice_created_es_v1" and template.language == "es"
    assert template.variables["1"] == "Lucía"  # the sample value, which WhatsApp's review needs

    asked = len(content.requests)
    again = sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    assert again.made == [] and again.unchanged == len(notices)
    assert len(content.requests) == asked and len(_rows(svc)) == len(rows)


def test_the_approved_template_carries_the_notice(make_app, content, run_worker, tmp_path):
    app = make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path)))
    svc = services(app)
    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    assert poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)  # received -> pending
    assert _row(svc, "ClientAdd", "es").status == "pending"
    content.decide("client_add_es_v1", "approved")
    [decision] = [
        d for d in poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW) if d.status != "pending"
    ]
    assert (decision.event_type, decision.language, decision.status) == ("ClientAdd", "es", "approved")
    approved = _row(svc, "ClientAdd", "es")

    with responses.RequestsMock() as twilio:
        twilio.post(MESSAGES_URL, json={"sid": "SM" + "a" * 32, "status": "queued"}, status=201)
        from bridge.inbound.signing import signed_request

        body, headers = signed_request(SECRET, "ClientAdd", load_sample("whmcs_hooks", "ClientAdd"))
        assert app.test_client().post("/webhooks/whmcs", data=body, headers=headers).status_code == 202
        run_worker()
        sent = parse_qs(twilio.calls[0].request.body)

    assert sent["ContentSid"] == [approved.content_sid] and "Body" not in sent
    variables = json.loads(sent["ContentVariables"][0])
    assert sorted(variables) == [str(n) for n in range(1, len(approved.variables) + 1)]
    assert variables["1"] == "Lucía"  # firstname, the first variable of ClientAdd's text


def test_a_changed_text_is_a_new_version_and_the_approved_one_serves_until_it_is_approved(make_app, content, tmp_path):
    svc = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path / "before"))))
    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    content.decide("invoice_paid_es_v1", "approved")
    poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)
    first = _row(svc, "InvoicePaid", "es")

    text = "Hola {{ firstname }}, recibimos tu pago de la factura {{ invoice_number }}. ¡Gracias!"
    edited = services(
        make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path, ("es", "InvoicePaid", text))))
    )
    report = sync_templates(edited.db, edited.catalog, build_content_api(edited.settings))

    assert report.made == ["InvoicePaid (es)"]
    second = _row(edited, "InvoicePaid", "es", version=2)
    assert (second.name, second.status, second.variables) == (
        "invoice_paid_es_v2",
        "received",
        ["firstname", "invoice_number"],
    )
    assert content.templates[second.content_sid].body == "Hola {{1}}, recibimos tu pago de la factura {{2}}. ¡Gracias!"
    with edited.db.session() as session:
        assert usable_templates(session, dry_run=False)[("InvoicePaid", "es")].content_sid == first.content_sid
        [state] = [
            s
            for s in template_states(session, edited.catalog, dry_run=False)
            if s.event_type == "InvoicePaid" and s.language == "es"
        ]
    assert state.state == "received" and "in use meanwhile: invoice_paid_es_v1" in state.describe()

    content.decide("invoice_paid_es_v2", "approved")
    poll_templates(edited, build_content_api(edited.settings), utcnow(), NOW)
    poll_templates(edited, build_content_api(edited.settings), utcnow(), NOW)
    with edited.db.session() as session:
        assert usable_templates(session, dry_run=False)[("InvoicePaid", "es")].content_sid == second.content_sid


def test_a_rejection_is_recorded_with_twilios_reason_and_told_to_the_staff_once(make_app, content, tmp_path):
    config = _config_with(tmp_path, staff_emails=["facturacion@tuhosting.example"])
    svc = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(config)))
    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    reason = "The template's content does not match the UTILITY category."
    content.decide("domain_delete_it_v1", "rejected", reason)

    poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)
    poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)  # nothing new: told once

    row = _row(svc, "DomainDelete", "it")
    assert (row.status, row.rejection_reason) == ("rejected", reason)
    with svc.db.session() as session:
        [event] = session.scalars(select(Event).where(Event.type == REJECTED_TYPE)).all()
        assert ("DomainDelete", "it") in missing_templates(session, svc.catalog, dry_run=False)
    assert event.payload["rejection_reason"] == reason and event.source == "bridge"
    [email] = actions_of(svc, event.id)
    assert email.recipient == "facturacion@tuhosting.example"
    assert "domain_delete_it_v1" in email.content["subject"] and reason in email.content["body"]


def test_a_text_twilio_refuses_is_recorded_and_a_busy_twilio_is_asked_again_by_the_next_sync(
    make_app, content, tmp_path
):
    svc = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path))))
    content.fail_next(r"^/v1/Content$", 400, 21656, "The ContentVariables Parameter is invalid")
    content.fail_next(r"/ApprovalRequests/whatsapp$", 503, 20503, "Service Unavailable")

    report = sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))

    assert len(report.errors) == 2
    refused, busy = (r for r in _rows(svc) if r.status in ("failed", "unsubmitted"))
    assert refused.status == "failed" and "ContentVariables" in refused.rejection_reason
    assert refused.content_sid is None
    assert busy.status == "unsubmitted" and busy.content_sid is not None  # made; approval not asked yet
    creates = len(content.creates())

    again = sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))

    assert again.made == [f"{busy.event_type} ({busy.language})"] and again.errors == []
    assert len(content.creates()) == creates  # the Content resource made before is the one submitted
    assert _row(svc, busy.event_type, busy.language).status == "received"
    assert _row(svc, refused.event_type, refused.language).status == "failed"  # a new text is needed


def test_without_twilio_credentials_every_template_is_an_approved_dry_run(make_app, content, tmp_path):
    dry = services(make_app(BRIDGE_CONFIG_DIR=str(_config_with(tmp_path))))
    assert isinstance(build_content_api(dry.settings), DryRunContent)
    report = sync_templates(dry.db, dry.catalog, build_content_api(dry.settings))
    assert len(report.made) == len(dry.catalog.whatsapp_notices())
    assert {(r.status, r.dry_run) for r in _rows(dry)} == {("approved", True)}
    with dry.db.session() as session:
        assert missing_templates(session, dry.catalog, dry_run=True) == []
        # Sids a dry run made were never on Twilio: with credentials they are not sent.
        assert usable_templates(session, dry_run=False) == {}
        assert len(missing_templates(session, dry.catalog, dry_run=False)) == len(dry.catalog.whatsapp_notices())

    real = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path / "real"))))
    sync_templates(real.db, real.catalog, build_content_api(real.settings))
    assert {(r.status, r.dry_run) for r in _rows(real)} == {("received", False)}


def test_readyz_and_the_metric_report_the_notices_without_an_approved_template(make_app, content, tmp_path):
    app = make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path)))
    svc = services(app)
    notices = len(svc.catalog.whatsapp_notices())
    ready = app.test_client().get("/readyz").get_json()
    assert ready["checks"]["whatsapp_templates"].startswith(f"{notices} WhatsApp notices without an approved template")
    assert "InvoiceCreated (es)" in ready["checks"]["whatsapp_templates"]

    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    for template in list(content.templates.values()):
        content.decide(template.name, "approved")
    poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)
    poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)

    assert app.test_client().get("/readyz").get_json()["checks"]["whatsapp_templates"] == "ok"
    from bridge.ops.metrics_collector import StateCollector

    [gauge] = [m for m in StateCollector(svc).collect() if m.name == "bridge_whatsapp_templates_missing"]
    assert gauge.samples[0].value == 0


def test_templates_commands_sync_and_list_each_notice_with_its_state(make_app, content, tmp_path):
    app = make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path)))
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["templates", "status"])
    assert listed.exit_code == 0
    assert "InvoiceCreated           es     missing     no template yet" in listed.output

    synced = runner.invoke(args=["templates", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "submitted InvoiceCreated (es)" in synced.output and "DRY RUN" not in synced.output
    content.decide("invoice_created_es_v1", "rejected", "Too many variables for its length.")
    poll_templates(services(app), build_content_api(services(app).settings), utcnow(), NOW)

    listed = runner.invoke(args=["templates", "status"])
    assert "invoice_created_es_v1: Too many variables for its length." in listed.output
    assert listed.output.strip().endswith("without an approved template")


def test_the_relay_asks_only_about_versions_not_asked_for_the_poll_interval(make_app, content, tmp_path):
    svc = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path))))
    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    fetches = len([r for r in content.requests if r[0] == "GET"])
    assert poll_templates(svc, build_content_api(svc.settings), utcnow(), timedelta(minutes=5)) == []
    assert len([r for r in content.requests if r[0] == "GET"]) == fetches


def test_production_start_up_names_the_notices_without_an_approved_template(make_app, content, tmp_path, caplog):
    import logging

    from bridge.app import report_missing_templates

    svc = services(make_app(**_twilio(content), BRIDGE_CONFIG_DIR=str(_config_with(tmp_path))))
    with caplog.at_level(logging.WARNING, logger="bridge.startup"):
        report_missing_templates(svc)
    [line] = [r.getMessage() for r in caplog.records if r.name == "bridge.startup"]
    assert line.startswith(f"{len(svc.catalog.whatsapp_notices())} WhatsApp notices have no approved template")
    assert "InvoicePaid (it)" in line and "templates sync" in line

    sync_templates(svc.db, svc.catalog, build_content_api(svc.settings))
    for template in list(content.templates.values()):
        content.decide(template.name, "approved")
    for _ in range(2):
        poll_templates(svc, build_content_api(svc.settings), utcnow(), NOW)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bridge.startup"):
        report_missing_templates(svc)
    assert [r for r in caplog.records if r.name == "bridge.startup"] == []
