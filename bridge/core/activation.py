"""`[activation]` in routing.toml: what the bridge does when a new order is paid (OrderPaid).

Per product line of the order, the first rule that matches its product id, product group
and the order's payment method gives the policy, else `default`:

- `instant`: AcceptOrder with auto-setup (WHMCS's module provisions the service);
- `returning`: instant for a client who already had an active service or a paid invoice
  before this order, otherwise as manual;
- `manual`: the order stays pending and staff hear "order #N paid, to activate";
- `whmcs`: the bridge does nothing (the product is set up by WHMCS itself, on payment).

An order whose lines fall under different policies gets the strictest of them (manual over
returning over instant over whmcs): AcceptOrder accepts a whole order, so one product that
a person must look at holds the others back with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.core.settings import SettingsError

# From the least strict to the strictest.
POLICIES = ("whmcs", "instant", "returning", "manual")


@dataclass(frozen=True)
class ActivationRule:
    """One `[[activation.rules]]` entry: an empty criterion matches anything."""

    policy: str
    products: frozenset[str] = frozenset()  # WHMCS product ids (pid)
    product_groups: frozenset[str] = frozenset()  # product group names, as WHMCS shows them
    payment_methods: frozenset[str] = frozenset()  # gateway module names (pagos360, banktransfer)

    def matches(self, pid: str, group: str, payment_method: str) -> bool:
        return (
            (not self.products or pid in self.products)
            and (not self.product_groups or group.casefold() in {g.casefold() for g in self.product_groups})
            and (not self.payment_methods or payment_method in self.payment_methods)
        )


@dataclass(frozen=True)
class ActivationPolicy:
    default: str = "manual"
    rules: tuple[ActivationRule, ...] = ()

    def for_line(self, pid: str, group: str, payment_method: str) -> str:
        return next((r.policy for r in self.rules if r.matches(pid, group, payment_method)), self.default)

    @staticmethod
    def strictest(policies: list[str]) -> str:
        return max(policies, key=POLICIES.index) if policies else "whmcs"


def activation_policy(spec: Mapping[str, Any], where: Path) -> ActivationPolicy:
    """`[activation]` read into an ActivationPolicy; an unknown policy stops start-up."""

    def policy(value: Any, place: str) -> str:
        if value not in POLICIES:
            raise SettingsError(f"{where}: {place}: {value!r} is not one of {', '.join(POLICIES)}")
        return str(value)

    rules = tuple(
        ActivationRule(
            policy=policy(rule.get("policy"), f"[[activation.rules]] #{number}"),
            products=frozenset(str(pid) for pid in rule.get("products", ())),
            product_groups=frozenset(str(group) for group in rule.get("product_groups", ())),
            payment_methods=frozenset(str(method) for method in rule.get("payment_methods", ())),
        )
        for number, rule in enumerate(spec.get("rules", ()), start=1)
    )
    return ActivationPolicy(default=policy(spec.get("default", "manual"), "[activation] default"), rules=rules)
