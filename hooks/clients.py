"""Client account events: welcome, password changed, details changed."""

from __future__ import annotations

from dataclasses import replace

from bridge.core.event_fields import mapping
from hooks import HookContext, PlannedAction, add_hook
from hooks.helpers.messaging import client_notice

# Fields whose change a client should hear about. A ClientEdit that touches none of
# them (a group move, a custom field, both of which the bridge itself makes through the
# WHMCS API) is not echoed back as "your details changed".
CUSTOMER_FACING_FIELDS = (
    "firstname",
    "lastname",
    "companyname",
    "email",
    "address1",
    "address2",
    "city",
    "state",
    "postcode",
    "country",
    "phonenumber",
)


@add_hook("ClientAdd", priority=10, name="clients.welcome", needs=("client",))
def welcome(ctx: HookContext) -> list[PlannedAction]:
    return client_notice(ctx, "general")


@add_hook("ClientChangePassword", priority=10, name="clients.password_changed", needs=("client",))
def password_changed(ctx: HookContext) -> list[PlannedAction]:
    # A security alert: sent whatever the client's email preferences say.
    return client_notice(ctx, None)


@add_hook("ClientEdit", priority=10, name="clients.details_changed", needs=("client",))
def details_changed(ctx: HookContext) -> list[PlannedAction]:
    params = ctx.params
    old = mapping(params.get("olddata"), "olddata")
    if old:
        changed = [f for f in CUSTOMER_FACING_FIELDS if f in old and str(old[f]) != str(params.get(f, old[f]))]
        if not changed:
            touched = sorted(k for k in old if str(old[k]) != str(params.get(k, old[k])))
            reason = f"no customer-facing field changed ({', '.join(touched) or 'nothing'}): not notified"
            return [PlannedAction("none", "-", {}, reason)]
    return client_notice(ctx, "general")


@add_hook("UserChangePassword", priority=10, name="clients.user_password_changed", needs=("user_clients",))
def user_password_changed(ctx: HookContext) -> list[PlannedAction]:
    """WHMCS 8 moved logins to users, who may manage several client accounts: each client
    the user belongs to hears it, as a security alert (whatever the email preferences say)."""
    if not ctx.data.user_clients:
        return client_notice(ctx, None)  # recorded as skipped, with the reason
    planned: list[PlannedAction] = []
    for client in ctx.data.user_clients:
        planned.extend(client_notice(replace(ctx, data=replace(ctx.data, client=client, contacts=())), None))
    return planned
