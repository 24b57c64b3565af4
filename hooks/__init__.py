"""What happens on each event: handlers registered WHMCS style, per event and priority.

    @add_hook("ClientAdd", priority=10)
    def welcome(ctx: HookContext) -> list[PlannedAction]: ...

A handler reads the event (`ctx.event`), what the planner looked up for it (`ctx.data`,
as declared with `needs=`) and the company's configuration (`ctx.catalog`), and returns
the Actions to take. It never talks to the network or the database: the planner
(bridge.planning.planner) does the look-ups before it runs, stores what it returns in one
transaction, and the workers carry it out. Lower priorities run first, as in WHMCS.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.core.actions import PlannedAction
from bridge.core.catalog import Catalog, WhatsAppTemplate
from bridge.core.event_data import EventData
from bridge.core.events import InboundEvent
from bridge.core.settings import Settings
from bridge.core.whmcs_params import hook_fields

# What a handler may ask the planner to look up before it runs.
NEEDS = frozenset(
    {
        "client",
        "contacts",
        "invoice",
        "service",
        "quote",
        "domain",
        "adhesion",
        "debit",
        "debit_group",
        "sender",
        "ticket",
        "order",
        "flagged_admin",
        "user_clients",
        "service_billing",
        "debit_standing",
        "ticket_contact",
    }
)


@dataclass(frozen=True)
class HookContext:
    event: InboundEvent
    data: EventData
    catalog: Catalog
    settings: Settings
    # The approved WhatsApp templates by (event, language), as the planner read them.
    templates: Mapping[tuple[str, str], WhatsAppTemplate] = field(default_factory=dict)

    def whatsapp_template(self, notice: str, language: str) -> WhatsAppTemplate | None:
        """The template a WhatsApp notice goes as: routing.toml's hand-written entry when
        there is one, else the approved one the sync made, else None (a plain body)."""
        return self.catalog.whatsapp_template(notice, language) or self.templates.get((notice, language))

    @property
    def params(self) -> Mapping[str, Any]:
        """The hook's own fields (a module hook's unwrapped from their nested `params`)."""
        return hook_fields(self.event.payload.get("params", {})).fields


Handler = Callable[[HookContext], list[PlannedAction]]


@dataclass(order=True)
class _Registration:
    priority: int
    order: int
    name: str = field(compare=False)
    handler: Handler = field(compare=False)
    needs: frozenset[str] = field(compare=False, default=frozenset())


class HookRegistry:
    def __init__(self) -> None:
        self._by_event: dict[str, list[_Registration]] = {}
        self._count = 0

    def add_hook(
        self, event_type: str, priority: int = 10, name: str | None = None, needs: tuple[str, ...] = ()
    ) -> Callable[[Handler], Handler]:
        unknown = set(needs) - NEEDS
        if unknown:
            raise ValueError(f"unknown needs {sorted(unknown)}; known: {sorted(NEEDS)}")

        def register(handler: Handler) -> Handler:
            self._count += 1
            label = name or f"{handler.__module__}.{handler.__qualname__}"
            registration = _Registration(priority, self._count, label, handler, frozenset(needs))
            self._by_event.setdefault(event_type, []).append(registration)
            self._by_event[event_type].sort()
            return handler

        return register

    def handlers_for(self, event_type: str) -> list[tuple[str, Handler]]:
        return [(r.name, r.handler) for r in self._by_event.get(event_type, [])]

    def needs_for(self, event_type: str) -> frozenset[str]:
        """Everything the event's handlers asked to have looked up."""
        return frozenset().union(*(r.needs for r in self._by_event.get(event_type, [])))

    def event_types(self) -> list[str]:
        return sorted(self._by_event)


REGISTRY = HookRegistry()
add_hook = REGISTRY.add_hook


def handler_modules() -> list[str]:
    """Every module of this package that registers handlers: each one but the helpers
    (hooks/helpers/), found by name, so that adding a subject is adding its module."""
    here = Path(__file__).resolve().parent
    return [f"hooks.{info.name}" for info in pkgutil.iter_modules([str(here)]) if info.name != "helpers"]


def load_all() -> HookRegistry:
    for module in handler_modules():
        importlib.import_module(module)
    return REGISTRY
