"""What happens on each event: handlers registered WHMCS style, per event and priority.

    @add_hook("ClientAdd", priority=10)
    def welcome(ctx: HookContext) -> list[PlannedAction]: ...

A handler reads the event (`ctx.event`) and the company's configuration (`ctx.catalog`)
and returns the Actions to take. It never talks to the network or the database: the
intake stores what it returns in the same transaction as the event, and the workers
carry it out. Lower priorities run first, as in WHMCS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.catalog import Catalog
from bridge.events import InboundEvent
from bridge.settings import Settings


@dataclass(frozen=True)
class PlannedAction:
    """One thing to do. `skip_reason` set: recorded as skipped (e.g. no usable phone)."""

    channel: str
    recipient: str
    content: dict[str, Any]
    skip_reason: str | None = None


@dataclass(frozen=True)
class HookContext:
    event: InboundEvent
    catalog: Catalog
    settings: Settings

    @property
    def params(self) -> dict[str, Any]:
        return self.event.payload.get("params", {})


Handler = Callable[[HookContext], list[PlannedAction]]


@dataclass(order=True)
class _Registration:
    priority: int
    order: int
    name: str = field(compare=False)
    handler: Handler = field(compare=False)


class HookRegistry:
    def __init__(self) -> None:
        self._by_event: dict[str, list[_Registration]] = {}
        self._count = 0

    def add_hook(self, event_type: str, priority: int = 10, name: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._count += 1
            label = name or f"{handler.__module__}.{handler.__qualname__}"
            self._by_event.setdefault(event_type, []).append(_Registration(priority, self._count, label, handler))
            self._by_event[event_type].sort()
            return handler

        return register

    def handlers_for(self, event_type: str) -> list[tuple[str, Handler]]:
        return [(r.name, r.handler) for r in self._by_event.get(event_type, [])]


REGISTRY = HookRegistry()
add_hook = REGISTRY.add_hook

# The modules that register handlers. A company adds behaviour by adding a module here.
HOOK_MODULES = ("hooks.clients",)


def load_all() -> HookRegistry:
    for module in HOOK_MODULES:
        importlib.import_module(module)
    return REGISTRY
