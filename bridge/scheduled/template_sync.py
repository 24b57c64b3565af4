"""WhatsApp templates, their whole life: made from the message files, sent for approval,
followed until WhatsApp decides, a rejection told to the staff.

`sync_templates` (`flask --app wsgi templates sync`) turns every event x language routed
to WhatsApp into a Content resource and asks WhatsApp to approve it (category UTILITY).
Run twice it changes nothing: a version is identified by the digest of its text, and the
unique keys of `whatsapp_templates` let one sync, among any number running, make each
version. A changed text is a new version with a new name (Content resources cannot be
edited); the last approved version keeps carrying the notices until the new one is
approved (bridge.store.templates.usable_templates).

`poll_templates` runs from the relay: it asks Twilio about the versions still under review
and records WhatsApp's decision; a rejection becomes a `WhatsAppTemplateRejected` event
(source "bridge") with one email per staff address, so it is on the log page and told
once however many relays see it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core.catalog import Catalog
from bridge.core.events import BRIDGE_SOURCE, InboundEvent
from bridge.core.template_texts import template_name
from bridge.services import Services
from bridge.store.db import Database
from bridge.store.models import WhatsAppTemplate, utcnow
from bridge.store.outbox import record_event, store_planned
from bridge.store.templates import UNDECIDED
from hooks.helpers.messaging import planned_email
from providers.base import ProviderError
from providers.twilio_content import UTILITY, ContentApi

log = logging.getLogger(__name__)

REJECTED_TYPE = "WhatsAppTemplateRejected"
# A version whose Content resource was not recorded (the process died between asking
# Twilio and writing the sid) is taken up again by a later sync after this long.
STALE_CLAIM = timedelta(minutes=10)


@dataclass
class SyncReport:
    """What one sync did, per (event, language): `made` new versions sent for approval,
    `unchanged` ones already there, `no_text` notices without a `whatsapp_template` text,
    `errors` what Twilio refused or could not be asked (the sync goes on with the rest)."""

    made: list[str] = field(default_factory=list)
    unchanged: int = 0
    no_text: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.made)} new template versions sent for approval, {self.unchanged} unchanged,"
            f" {len(self.no_text)} notices without a whatsapp_template text, {len(self.errors)} errors"
        )


def sync_templates(db: Database, catalog: Catalog, content: ContentApi) -> SyncReport:
    """Make and submit every template version the message files call for; see the module."""
    report = SyncReport()
    if not content.dry_run:
        # What a dry run recorded was never on Twilio: its sids must never be sent.
        with db.session() as session:
            session.execute(delete(WhatsAppTemplate).where(WhatsAppTemplate.dry_run.is_(True)))
            session.commit()
    for event_type, language in catalog.whatsapp_notices():
        label = f"{event_type} ({language})"
        text = catalog.template_text(event_type, language)
        if text is None:
            report.no_text.append(label)
            continue
        row_id = _claim_version(db, event_type, language, text.digest, text.body, list(text.variables), content)
        if row_id is None:
            report.unchanged += 1
            continue
        try:
            _submit(db, row_id, language, text.body, text.samples, content)
        except ProviderError as exc:
            if not exc.permanent:  # Twilio away or busy: the next sync takes it up at once
                _release(db, row_id)
            report.errors.append(f"{label}: {exc}")
            continue
        report.made.append(label)
    return report


def _claim_version(
    db: Database, event_type: str, language: str, digest: str, body: str, variables: list[str], content: ContentApi
) -> int | None:
    """The id of the version this sync is to submit, or None when there is nothing to do
    (submitted already, or another sync is submitting it). The insert is the claim: the
    unique keys let one process make a version."""
    now = utcnow()
    with db.session() as session:
        row = session.scalar(
            select(WhatsAppTemplate).where(
                WhatsAppTemplate.event_type == event_type,
                WhatsAppTemplate.language == language,
                WhatsAppTemplate.digest == digest,
            )
        )
        if row is not None:
            if row.status != "unsubmitted":
                return None  # submitted (or refused by Twilio for good)
            # Made but not submitted: the process that claimed it died, or is at it now.
            retaken = session.execute(
                update(WhatsAppTemplate)
                .where(WhatsAppTemplate.id == row.id, WhatsAppTemplate.checked_at < now - STALE_CLAIM)
                .values(checked_at=now)
            )
            session.commit()
            return row.id if retaken.rowcount else None  # type: ignore[attr-defined]
        version = 1 + (
            session.scalar(
                select(func.max(WhatsAppTemplate.version)).where(
                    WhatsAppTemplate.event_type == event_type, WhatsAppTemplate.language == language
                )
            )
            or 0
        )
        row = WhatsAppTemplate(
            event_type=event_type,
            language=language,
            version=version,
            digest=digest,
            name="",
            body=body,
            variables=variables,
            status="unsubmitted",
            rejection_reason="",
            dry_run=content.dry_run,
        )
        row.name = template_name(event_type, language, version)
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None  # another sync made this version (or the next one) first
        return row.id


def _submit(db: Database, row_id: int, language: str, body: str, samples: tuple[str, ...], content: ContentApi) -> None:
    with db.session() as session:
        row = session.get_one(WhatsAppTemplate, row_id)
        name, sid = row.name, row.content_sid
    if sid is None:
        try:
            sid = content.create(name, language, body, samples)
        except ProviderError as exc:
            if exc.permanent:  # Twilio refused the text itself: a new text is needed, not a retry
                _record(db, row_id, status="failed", rejection_reason=str(exc))
            raise
        _record(db, row_id, content_sid=sid)
    approval = content.request_approval(sid, name, UTILITY)
    _record(db, row_id, status=approval.status, rejection_reason=approval.rejection_reason)


def _release(db: Database, row_id: int) -> None:
    with db.session() as session:
        session.execute(
            update(WhatsAppTemplate).where(WhatsAppTemplate.id == row_id).values(checked_at=utcnow() - STALE_CLAIM)
        )
        session.commit()


def _record(db: Database, row_id: int, **values: object) -> None:
    now = utcnow()
    with db.session() as session:
        row = session.get_one(WhatsAppTemplate, row_id)
        if "status" in values and values["status"] != row.status:
            row.status_changed_at = now
        for key, value in values.items():
            setattr(row, key, value)
        row.checked_at = now
        session.commit()


@dataclass(frozen=True)
class Decision:
    """WhatsApp decided on a version since the last poll."""

    event_type: str
    language: str
    name: str
    status: str
    rejection_reason: str


def poll_templates(svc: Services, content: ContentApi, now: datetime, every: timedelta) -> list[Decision]:
    """Ask Twilio about each version under review not asked for `every`; record what
    changed, alert the staff of each rejection. A failure to ask is logged and asked again
    at the next pass."""
    with svc.db.session() as session:
        due = session.execute(
            select(WhatsAppTemplate.id, WhatsAppTemplate.content_sid).where(
                WhatsAppTemplate.status.in_(UNDECIDED),
                WhatsAppTemplate.content_sid.is_not(None),
                WhatsAppTemplate.checked_at <= now - every,
            )
        ).all()
    decisions: list[Decision] = []
    for row_id, sid in due:
        try:
            approval = content.approval(sid or "")
        except ProviderError as exc:
            log.warning("could not read the approval of template %s: %s", sid, exc)
            continue
        with svc.db.session() as session:
            row = session.get_one(WhatsAppTemplate, row_id)
            before = row.status
        _record(svc.db, row_id, status=approval.status, rejection_reason=approval.rejection_reason)
        if approval.status == before:
            continue
        decision = Decision(row.event_type, row.language, row.name, approval.status, approval.rejection_reason)
        decisions.append(decision)
        log.info("template %s is now %s", row.name, approval.status)
        if approval.status == "rejected":
            _alert_rejection(svc, row_id, decision)
    return decisions


def _alert_rejection(svc: Services, row_id: int, decision: Decision) -> None:
    inbound = InboundEvent(
        BRIDGE_SOURCE,
        REJECTED_TYPE,
        f"template-rejected:{row_id}",
        {
            "event_type": decision.event_type,
            "language": decision.language,
            "name": decision.name,
            "rejection_reason": decision.rejection_reason,
        },
    )
    result = record_event(svc.db, inbound, plan_on=None)
    if not result.created:
        return  # another relay told the staff
    staff = svc.catalog.staff.emails
    if not staff:
        log.warning("template %s was rejected; no [staff] emails in routing.toml to tell", decision.name)
        return
    subject = f"[bridge] WhatsApp rejected the template {decision.name}"
    body = "\n".join(
        [
            f"WhatsApp rejected the template of {decision.event_type} in {decision.language} ({decision.name}).",
            f"Twilio's reason: {decision.rejection_reason or '(none given)'}",
            "",
            "Until a new text is approved, this notice reaches customers on WhatsApp only inside their",
            "24-hour window. Edit whatsapp_template in config/messages, restart, and run",
            "`flask --app wsgi templates sync`.",
        ]
    )
    planned = [("bridge.scheduled.template_sync", planned_email(a, {"subject": subject, "body": body})) for a in staff]
    with svc.db.session() as session:
        store_planned(session, svc.queue, result.event_id, planned)
