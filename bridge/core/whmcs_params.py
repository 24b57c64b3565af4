"""A WHMCS hook's parameters, the same way for everything that reads them.

The PHP hook file posts each hook's `$vars` as `params`. Most hooks put their fields
there directly; the module hooks (AfterModuleSuspend, ...) nest them one level down,
under `params` again, with the client's details under `clientsdetails`. And the client
id has several names (see CLIENT_ID_KEYS). Intake (the client id stored with the event),
the planner (whom to look up), the hooks and the log page all read the hook through
`hook_fields`, so that they agree on which client an event is about.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.core.event_fields import EventShapeError, identifier, mapping

# Not "user_id": since WHMCS 8 that is the login user, not the client account. "userId" is
# OrderPaid's camelCase spelling of the client's id.
CLIENT_ID_KEYS = ("userid", "client_id", "clientid", "userId")
# Hooks whose `userid` is a WHMCS 8 user (who logs in, and may manage several clients), not a
# client: their clients are found through the API (GetUsers), never read from `userid`.
USER_ID_EVENTS = frozenset({"UserChangePassword"})


@dataclass(frozen=True)
class HookFields:
    """The fields of one hook, unwrapped. `at` is how the hook wrote their place
    ("params." for a module hook), for shape errors that name the field as sent."""

    fields: Mapping[str, Any]
    at: str

    @property
    def client_details(self) -> Mapping[str, Any]:
        """`clientsdetails`, as the module hooks carry it ({} when absent)."""
        return mapping(self.fields.get("clientsdetails"), f"{self.at}clientsdetails")

    def client_id_candidates(self) -> Iterator[tuple[Any, str]]:
        """(value, field name) of each place a client id may be, in the order they count."""
        for key in CLIENT_ID_KEYS:
            yield self.fields.get(key), f"{self.at}{key}"
        details = self.client_details
        for key in CLIENT_ID_KEYS:
            yield details.get(key), f"{self.at}clientsdetails.{key}"


def hook_fields(params: Mapping[str, Any]) -> HookFields:
    """The hook's own fields: those nested under `params` for a module hook, else
    `params` itself. A `params` of another shape than an object is an EventShapeError."""
    nested = mapping(params.get("params"), "params")
    return HookFields(nested, "params.") if isinstance(params.get("params"), dict) else HookFields(params, "")


def stated_client_id(params: Mapping[str, Any]) -> str | None:
    """The client id the hook states, for filing the event at intake: never an error,
    since a field of the wrong shape is for the planning to report (naming it), not a
    reason to refuse the event."""
    try:
        for value, field in hook_fields(params).client_id_candidates():
            try:
                found = identifier(value, field)
            except EventShapeError:
                continue
            if found is not None:
                return found
    except EventShapeError:  # `params` or `clientsdetails` is not an object
        pass
    return None
