"""Service (product) events from the provisioning modules: suspended, reactivated, terminated."""

from __future__ import annotations

from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers import variables as v
from hooks.helpers.messaging import client_notice

NEEDS = ("service", "client", "contacts")


@add_hook("AfterModuleSuspend", priority=10, name="services.suspended", needs=NEEDS)
def suspended(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "product", v.service)


@add_hook("AfterModuleUnsuspend", priority=10, name="services.reactivated", needs=NEEDS)
def reactivated(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "product", v.service)


@add_hook("AfterModuleTerminate", priority=10, name="services.terminated", needs=NEEDS)
def terminated(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "product", v.service)
