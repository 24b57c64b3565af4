"""The WhatsApp templates the bridge made, as the rest of the bridge reads them: which one
each notice goes as, and which notices have none yet (bridge.store.models.WhatsAppTemplate;
bridge.scheduled.template_sync writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.catalog import Catalog, WhatsAppTemplate
from bridge.store.models import WhatsAppTemplate as TemplateRow

APPROVED = "approved"
# Twilio's states in which WhatsApp has not decided yet: the relay keeps asking.
UNDECIDED = ("received", "pending")

TemplateKey = tuple[str, str]  # (event type, language)


def usable_templates(session: Session, *, dry_run: bool) -> dict[TemplateKey, WhatsAppTemplate]:
    """The newest approved version of each (event, language): the one its notices go as. A
    newer version still under review does not replace it until WhatsApp approves it.

    `dry_run`: whether WhatsApp is a dry run; only then do the templates a dry run
    recorded count (their sids were never on Twilio)."""
    query = select(TemplateRow.event_type, TemplateRow.language, TemplateRow.content_sid, TemplateRow.variables).where(
        TemplateRow.status == APPROVED, TemplateRow.content_sid.is_not(None)
    )
    if not dry_run:
        query = query.where(TemplateRow.dry_run.is_(False))
    rows = session.execute(query.order_by(TemplateRow.version)).all()
    return {(event, lang): WhatsAppTemplate(sid or "", tuple(names)) for event, lang, sid, names in rows}


def missing_templates(session: Session, catalog: Catalog, *, dry_run: bool) -> list[TemplateKey]:
    """Every (event, language) routed to WhatsApp that no approved template carries (made
    by the sync or written in routing.toml): outside the 24-hour window WhatsApp will not
    deliver those notices."""
    usable = usable_templates(session, dry_run=dry_run)
    return [
        (event, language)
        for event, language in catalog.whatsapp_notices()
        if (event, language) not in usable and catalog.whatsapp_template(event, language) is None
    ]


@dataclass(frozen=True)
class Version:
    """One version of a template, as the status listing shows it."""

    name: str
    version: int
    status: str
    rejection_reason: str
    content_sid: str
    dry_run: bool
    status_changed_at: datetime


@dataclass(frozen=True)
class TemplateState:
    """Where one WhatsApp notice (event, language) stands: the version its messages go as
    (`in_use`), the newest version when it is another (under review, rejected), and whether
    routing.toml's hand-written entry overrides both."""

    event_type: str
    language: str
    in_use: Version | None
    newest: Version | None
    override_sid: str = ""

    @property
    def usable(self) -> bool:
        return bool(self.override_sid) or self.in_use is not None

    @property
    def state(self) -> str:
        """approved, pending, rejected, … as Twilio says of the newest version; `override`
        for a hand-written entry; `missing` when nothing was ever made."""
        if self.override_sid:
            return "override"
        if self.newest is None:
            return "missing"
        return self.newest.status

    def describe(self) -> str:
        head = f"{self.event_type:<24} {self.language:<6} {self.state:<11}"
        if self.override_sid:
            return f"{head} routing.toml [whatsapp_templates] {self.override_sid}"
        if self.newest is None:
            return f"{head} no template yet (flask --app wsgi templates sync)"
        text = f"{head} {self.newest.name}"
        if self.newest.rejection_reason:
            text += f": {self.newest.rejection_reason}"
        if self.in_use is not None and self.in_use != self.newest:
            text += f" (in use meanwhile: {self.in_use.name})"
        if self.newest.dry_run:
            text += " [dry run]"
        return text


def template_states(session: Session, catalog: Catalog, *, dry_run: bool) -> list[TemplateState]:
    """Every notice routed to WhatsApp, with its template's state (the CLI's `templates
    status` and the log page list these)."""
    query = select(TemplateRow).order_by(TemplateRow.version)
    if not dry_run:
        query = query.where(TemplateRow.dry_run.is_(False))
    newest: dict[TemplateKey, Version] = {}
    in_use: dict[TemplateKey, Version] = {}
    for row in session.scalars(query):
        version = Version(
            row.name,
            row.version,
            row.status,
            row.rejection_reason,
            row.content_sid or "",
            row.dry_run,
            row.status_changed_at,
        )
        newest[(row.event_type, row.language)] = version
        if row.status == APPROVED and row.content_sid:
            in_use[(row.event_type, row.language)] = version
    states = []
    for key in catalog.whatsapp_notices():
        override = catalog.whatsapp_template(*key)
        states.append(
            TemplateState(key[0], key[1], in_use.get(key), newest.get(key), override.content_sid if override else "")
        )
    return states
