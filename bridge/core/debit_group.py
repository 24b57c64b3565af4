"""Whether WHMCS's client group for card direct debit keeps its clients from being suspended.

The seed procedure moves an adhered client into the group "Adherido al débito automático"
so that their services are never suspended; WHMCS's group option "exempt from suspend and
terminate" (`susptermexempt`, "on" or "" in GetClientGroups) is what makes its cron skip
them, and nobody checks that it is ticked. This reads it from GetClientGroups's rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CHECK_NAME = "debit_group_exempt"


@dataclass(frozen=True)
class GroupExemption:
    ok: bool
    detail: str
    group_id: str = ""
    group_name: str = ""


def exemption(groups: Iterable[Mapping[str, Any]], group_id: int | None, group_name: str) -> GroupExemption:
    """The debit group (by id when configured, else by name) and its `susptermexempt`."""
    for group in groups:
        same = (
            str(group.get("id")) == str(group_id)
            if group_id
            else (str(group.get("groupname", "")).strip().casefold() == group_name.strip().casefold())
        )
        if not same:
            continue
        found_id, found_name = str(group.get("id", "")), str(group.get("groupname", ""))
        if str(group.get("susptermexempt", "")).strip().lower() in ("on", "1", "true", "yes"):
            return GroupExemption(
                True, f"group {found_name!r} ({found_id}) is exempt from suspend and terminate", found_id, found_name
            )
        return GroupExemption(
            False,
            f"group {found_name!r} ({found_id}) is not exempt from suspend and terminate: WHMCS's cron may suspend "
            "clients who pay by card direct debit (tick it in WHMCS: Configuration > System Settings > Client Groups)",
            found_id,
            found_name,
        )
    wanted = f"id {group_id}" if group_id else f"named {group_name!r}"
    return GroupExemption(False, f"WHMCS has no client group {wanted} (the card direct debit group)")
