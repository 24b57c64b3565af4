"""The company's editable configuration: message templates and routing, from `config/`.

Loaded and compiled once at start-up, so a typo in a template or a TOML file stops the
service with the file's name instead of failing later inside a worker.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from bridge.core.activation import activation_policy
from bridge.core.fallback import DEFAULT_FALLBACK
from bridge.core.reminders import reminder_policy
from bridge.core.settings import DEFAULT_CONFIG_DIR, SettingsError
from bridge.core.template_texts import TemplateRuleBroken, TemplateText, content_value, template_text

# In a message file: the table of sample values for the WhatsApp templates (not an event),
# and the part that is a WhatsApp template's text (not rendered: submitted for approval).
SAMPLES_TABLE = "_samples"
TEMPLATE_PART = "whatsapp_template"

# Sandboxed: templates are edited by admins, values come from customers. One environment
# for every catalog, so that a template compiled once serves each app built afterwards.
_SANDBOX = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """The compiled form of one template's text, compiled once per process.

    Compiling is nearly all the cost of building a Catalog, and a process may build several
    (a test session builds hundreds of apps). The key is the template's own text, so an edited
    file is compiled afresh whatever its modification time says; a template that does not
    compile raises TemplateSyntaxError on every call (errors are not cached). Compiled
    templates hold no state between renders, so sharing them between catalogs is safe.
    The bound keeps a process that rebuilds apps from edited folders from growing without end.
    """
    return _SANDBOX.from_string(source)


@dataclass(frozen=True)
class ClientPolicy:
    """`[clients]` in routing.toml: who among the clients gets messages."""

    exclude_groups: frozenset[int] = frozenset()
    whatsapp_optout_field: str = ""  # a client custom field id; "on" there means no WhatsApp
    contacts: bool = True  # also email the contacts whose WHMCS preferences cover the notice


# The notices staff must hear: production start-up refuses a routing in which one of them has
# no staff group with an address ("Aquí yo debo enterarme" is a requirement, not a default).
MUST_REACH_STAFF = (
    "DebitAdhesionCanceled",
    "DebitRejected",
    "AfterModuleCreateFailed",
    "OrderToActivate",
    "OrderActivationFailed",
    "WhatsAppFromUnknown",
)
DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class StaffGroup:
    """`[staff.groups.<name>]` in routing.toml (the flat `[staff]` is the `default` group):
    where a group of staff users hears its alerts, and in which language."""

    name: str
    emails: tuple[str, ...] = ()
    whatsapp: tuple[str, ...] = ()
    language: str = ""  # "": the bridge's DEFAULT_LANGUAGE

    @property
    def reachable(self) -> bool:
        return bool(self.emails or self.whatsapp)


@dataclass(frozen=True)
class StaffPolicy:
    """`[staff]` in routing.toml: which notices the company's own staff hear, and which group.

    A notice is heard when `[staff] events` lists it or `[staff.routes]` routes it; it goes
    to the groups its route names, else to `default`. Ticket notices go by WHMCS department
    (`[staff.departments]`, department id -> group), else to `default`. A routed group with
    no address hands its alert to `default` (a misconfiguration must not make it silent)."""

    events: frozenset[str] = frozenset()
    groups: Mapping[str, StaffGroup] = field(default_factory=lambda: {DEFAULT_GROUP: StaffGroup(DEFAULT_GROUP)})
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    departments: Mapping[str, str] = field(default_factory=dict)
    # WHMCS admin id -> WhatsApp number: a ticket flagged to that admin reaches them there too.
    admin_whatsapp: Mapping[str, str] = field(default_factory=dict)

    @property
    def default(self) -> StaffGroup:
        return self.groups[DEFAULT_GROUP]

    @property
    def emails(self) -> tuple[str, ...]:
        """The default group's addresses: where the bridge's own reports go (dead letters,
        template rejections)."""
        return self.default.emails

    @property
    def whatsapp(self) -> tuple[str, ...]:
        return self.default.whatsapp

    def hears(self, notice: str) -> bool:
        return notice in self.events or notice in self.routes

    def groups_for(self, notice: str, department: str | None = None) -> tuple[StaffGroup, ...]:
        """The groups that hear `notice` (for a ticket, of that WHMCS department); a group
        without an address is replaced by `default`."""
        if department is not None:
            names: tuple[str, ...] = (self.departments.get(department, DEFAULT_GROUP),)
        else:
            names = self.routes.get(notice, (DEFAULT_GROUP,))
        chosen = [self.groups[name] if self.groups[name].reachable else self.default for name in names]
        return tuple(dict.fromkeys(chosen))

    def unheard(self, notices: tuple[str, ...] = MUST_REACH_STAFF) -> list[str]:
        """Of `notices`, those no staff group with an address hears."""
        return [n for n in notices if not self.hears(n) or not any(g.reachable for g in self.groups_for(n))]


def staff_policy(staff: Mapping[str, Any], where: Path) -> StaffPolicy:
    """`[staff]` of routing.toml read into a StaffPolicy; a route or department naming a
    group that does not exist stops start-up, naming it."""
    groups = {DEFAULT_GROUP: _staff_group(DEFAULT_GROUP, staff)}
    for name, spec in dict(staff.get("groups", {})).items():
        # `[staff.groups.default]` may name what the flat `[staff]` leaves out.
        base = staff if name == DEFAULT_GROUP else {}
        groups[name] = _staff_group(name, {**base, **spec})
    routes = {event: tuple(names) for event, names in dict(staff.get("routes", {})).items()}
    departments = {str(dept): str(name) for dept, name in dict(staff.get("departments", {})).items()}
    named = [(f"[staff.routes] {event}", name) for event, names in routes.items() for name in names]
    named += [(f"[staff.departments] {dept}", name) for dept, name in departments.items()]
    for place, name in named:
        if name not in groups:
            raise SettingsError(f"{where}: {place} names the staff group {name!r}, which [staff.groups] lacks")
    return StaffPolicy(
        events=frozenset(staff.get("events", ())),
        groups=groups,
        routes=routes,
        departments=departments,
        admin_whatsapp={str(k): str(v) for k, v in dict(staff.get("admins", {})).items()},
    )


def _staff_group(name: str, spec: Mapping[str, Any]) -> StaffGroup:
    return StaffGroup(
        name=name,
        emails=tuple(spec.get("emails", ())),
        whatsapp=tuple(spec.get("whatsapp", ())),
        language=str(spec.get("language", "") or ""),
    )


@dataclass(frozen=True)
class InboundPolicy:
    """`[inbound]` in routing.toml: what a customer's WhatsApp message sets off."""

    opt_out_keywords: tuple[str, ...] = ("STOP", "BAJA", "PARAR", "SAIR", "DISISCRIVI", "UNSUBSCRIBE")
    opt_in_keywords: tuple[str, ...] = ("START", "ALTA", "VOLTAR", "ISCRIVI", "SUBSCRIBE")
    ticket_department_id: int | None = None  # None: the first department WHMCS lists
    acknowledge: bool = True  # one automatic answer per conversation (the WhatsAppTicketOpened message)


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved template a WhatsApp notice can go as: made by the sync
    (bridge.store.templates) or written by hand in routing.toml's `[whatsapp_templates]`."""

    content_sid: str
    variables: tuple[str, ...]

    def content_variables(self, values: dict[str, Any]) -> dict[str, str]:
        """Twilio's ContentVariables: {"1": ..., "2": ...} in the template's order; an empty
        value goes as "-" (Twilio refuses empty ones)."""
        return {str(i): content_value(values.get(name)) for i, name in enumerate(self.variables, start=1)}


class Catalog:
    """Templates per event and language, channels per event, WhatsApp template ids."""

    def __init__(self, config_dir: Path = DEFAULT_CONFIG_DIR, default_language: str = "es") -> None:
        self.config_dir = config_dir
        self.default_language = default_language
        routing = _read_toml(config_dir / "routing.toml")
        self.company: dict[str, Any] = routing.get("company", {})
        self._channels = {name: tuple(spec.get("channels", ())) for name, spec in routing.get("events", {}).items()}
        # Notices that only ever answer a customer's own message, inside their 24-hour
        # window: they need no WhatsApp template.
        self._in_window = frozenset(name for name, spec in routing.get("events", {}).items() if spec.get("in_window"))
        # What takes a notice over when WhatsApp cannot carry it (bridge.core.fallback).
        self._fallback = {
            name: tuple(spec.get("fallback", DEFAULT_FALLBACK)) for name, spec in routing.get("events", {}).items()
        }
        self.locales: dict[str, str] = {"es": "es_AR", "en": "en_US", "pt_BR": "pt_BR", "it": "it_IT"}
        self.locales.update(routing.get("locales", {}))
        clients = routing.get("clients", {})
        self.clients = ClientPolicy(
            exclude_groups=frozenset(int(g) for g in clients.get("exclude_groups", ())),
            whatsapp_optout_field=str(clients.get("whatsapp_optout_field", "") or ""),
            contacts=bool(clients.get("contacts", True)),
        )
        inbound = routing.get("inbound", {})
        defaults = InboundPolicy()
        department = inbound.get("ticket_department_id")
        self.inbound = InboundPolicy(
            opt_out_keywords=tuple(inbound.get("opt_out_keywords", defaults.opt_out_keywords)),
            opt_in_keywords=tuple(inbound.get("opt_in_keywords", defaults.opt_in_keywords)),
            ticket_department_id=int(department) if department not in (None, "", 0) else None,
            acknowledge=bool(inbound.get("acknowledge", True)),
        )
        self.staff = staff_policy(routing.get("staff", {}), config_dir / "routing.toml")
        self.activation = activation_policy(routing.get("activation", {}), config_dir / "routing.toml")
        self.reminders = reminder_policy(routing.get("reminders", {}), config_dir / "routing.toml")
        self._wa_templates = {
            (event, lang): WhatsAppTemplate(spec["content_sid"], tuple(spec.get("variables", ())))
            for event, langs in routing.get("whatsapp_templates", {}).items()
            for lang, spec in langs.items()
        }
        self._templates: dict[tuple[str, str, str], Template] = {}
        self._template_texts: dict[tuple[str, str], TemplateText] = {}
        for path in sorted((config_dir / "messages").glob("*.toml")):
            messages = _read_toml(path)
            samples = messages.pop(SAMPLES_TABLE, {})
            for event, parts in messages.items():
                for part, source in parts.items():
                    if part == TEMPLATE_PART:
                        self._template_texts[(event, path.stem)] = _template_text(path, event, source, samples)
                        continue
                    try:
                        self._templates[(path.stem, event, part)] = compile_template(source)
                    except TemplateSyntaxError as exc:
                        raise SettingsError(f"{path}: [{event}].{part}: template error: {exc}") from None
        if not any(lang == default_language for lang, _, _ in self._templates):
            raise SettingsError(f"DEFAULT_LANGUAGE: no messages in {config_dir / 'messages'} for '{default_language}'")

    @property
    def languages(self) -> list[str]:
        return sorted({lang for lang, _, _ in self._templates})

    def channels_for(self, event_type: str) -> tuple[str, ...]:
        return self._channels.get(event_type, ())

    def language_for(self, requested: str | None) -> str:
        """WHMCS stores languages as names ("spanish", "english", "portuguese-br"); map to ours."""
        code = _LANGUAGE_NAMES.get((requested or "").strip().lower(), (requested or "").strip().lower())
        return code if code in self.languages else self.default_language

    def parts(self) -> list[tuple[str, str, str]]:
        """Every (language, event, part) that has a template."""
        return list(self._templates)

    def fallback_for(self, event_type: str) -> tuple[str, ...]:
        """The channels that take the event's WhatsApp notice over, in order, when WhatsApp
        cannot carry it: routing's `fallback` (default SMS, then email) without the channels
        the event already uses."""
        own = set(self.channels_for(event_type))
        return tuple(c for c in self._fallback.get(event_type, DEFAULT_FALLBACK) if c not in own)

    def locale_for(self, language: str) -> str:
        """The Babel locale that formats money and dates for a message language."""
        return self.locales.get(language, language)

    def has(self, language: str, event_type: str, part: str) -> bool:
        return (language, event_type, part) in self._templates or (
            self.default_language,
            event_type,
            part,
        ) in self._templates

    def render(self, language: str, event_type: str, part: str, variables: dict[str, Any]) -> str:
        """Render one part, falling back to the default language when a translation is missing."""
        template = self._templates.get((language, event_type, part)) or self._templates.get(
            (self.default_language, event_type, part)
        )
        if template is None:
            raise KeyError(f"no '{part}' message for {event_type} in {language} or {self.default_language}")
        return template.render(**variables).strip()

    def whatsapp_template(self, event_type: str, language: str) -> WhatsAppTemplate | None:
        """The hand-written `[whatsapp_templates]` entry of routing.toml: an override that
        wins over the templates the sync made."""
        return self._wa_templates.get((event_type, language))

    def template_text(self, event_type: str, language: str) -> TemplateText | None:
        """The `whatsapp_template` text of a message file, numbered as WhatsApp approves it."""
        return self._template_texts.get((event_type, language))

    def whatsapp_notices(self) -> list[tuple[str, str]]:
        """Every (event, language) a client may get on WhatsApp: the events routed to
        WhatsApp, in every language the bridge speaks. Each needs an approved template to
        reach a customer outside the 24-hour window. Notices marked `in_window` in routing
        (answers to the customer's own message) are left out: they never go outside it."""
        events = sorted(
            event
            for event, channels in self._channels.items()
            if "whatsapp" in channels and event not in self._in_window
        )
        return [(event, language) for event in events for language in self.languages]


def _template_text(path: Path, event: str, source: Any, samples: dict[str, Any]) -> TemplateText:
    if not isinstance(source, str):
        raise SettingsError(f"{path}: [{event}].{TEMPLATE_PART}: must be a text")
    try:
        return template_text(event, path.stem, source, samples)
    except TemplateRuleBroken as exc:
        raise SettingsError(f"{path}: {exc}") from None


_LANGUAGE_NAMES = {
    "spanish": "es",
    "español": "es",
    "english": "en",
    "portuguese-br": "pt_BR",
    "portuguese-pt": "pt_BR",
    "portuguese": "pt_BR",
    "pt-br": "pt_BR",
    "italian": "it",
}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"{path}: missing (BRIDGE_CONFIG_DIR points at the folder holding it)") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
