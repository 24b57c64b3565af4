"""Alerts stored when an Action fails for good: the staff who must hear that it did not
happen (an order WHMCS would not accept, for one).

The hooks render the alerts when they plan the Action and put them in its content
(`if_failed`: [{channel, recipient, content}, ...]); the deliverer stores them, in the
transaction that records the failure, with the failure's own words added to each text, so
staff read WHMCS's error without opening the log. Unlike the fallback chain
(bridge.core.fallback), which hands a notice to one channel after another, these all go at
once, and only on a failure (a skip or a success stores none).
"""

from __future__ import annotations

from typing import Any

from bridge.core.actions import PlannedAction

FAILURE_ALERTS_KEY = "if_failed"
HOOK = "if_failed"


def failure_alerts(content: dict[str, Any] | None, error: str) -> list[tuple[str, PlannedAction]]:
    """The alerts an Action with this content carries, each text ending with `error`."""
    planned: list[tuple[str, PlannedAction]] = []
    for link in (content or {}).get(FAILURE_ALERTS_KEY) or []:
        if not isinstance(link, dict):
            continue
        alert = dict(link.get("content") or {})
        if isinstance(alert.get("body"), str):
            alert["body"] = f"{alert['body'].rstrip()}\n{error}"
        planned.append((HOOK, PlannedAction(str(link.get("channel") or ""), str(link.get("recipient") or "-"), alert)))
    return planned
