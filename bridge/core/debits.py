"""What a Pagos360 card debit's state means to the bridge (its API's `state` values)."""

from __future__ import annotations

NOT_PAID_STATES = ("rejected", "expired", "canceled")
REVERSED_STATES = ("reverted", "refunded")
PAID, REJECTED = "paid", "rejected"


def outcome_of(state: str) -> str | None:
    """How a debit ended, for the run of rejections (bridge.store.debit_outcomes); None: not
    ended yet, or ended otherwise (reverted after it was paid)."""
    if state == "paid":
        return PAID
    return REJECTED if state in NOT_PAID_STATES else None
