"""How each card debit the bridge asked for ended, and what a run of rejections means.

A client whose debits are rejected cycle after cycle (a card that expired, or was cancelled)
would stay in the debit group, never suspended, for ever. So each Pagos360 notification of a
debit the bridge requested writes its outcome on the request (`debit_requests.outcome`), and
when the client's last `threshold` cycles all ended rejected, with none paid, the adhesion is
marked as having left the group (once: the debit cycle then asks nothing more of it) and the
hooks move the client back to their previous group (hooks/direct_debit.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bridge.core.actions import DEBIT_REQUEST_CHANNEL
from bridge.core.debits import PAID, REJECTED
from bridge.store.models import Action, CardAdhesion, DebitRequest, utcnow


@dataclass(frozen=True)
class DebitStreak:
    rejected_cycles: int = 0  # the client's latest cycles in a row whose debits were all rejected
    leaves_group: bool = False  # this notification made it reach the threshold: leave the group now
    previous_group_id: int | None = None


def record_outcome(session: Session, pagos360_id: str, outcome: str | None, threshold: int) -> DebitStreak:
    """Write the outcome (PAID, REJECTED; None: not final yet) on the bridge's request for
    this debit, and say where the client's run of rejections stands. A debit the bridge did
    not request (made by hand in Pagos360) counts for nothing."""
    request = session.scalar(
        select(DebitRequest)
        .join(Action, Action.id == DebitRequest.action_id)
        .where(Action.channel == DEBIT_REQUEST_CHANNEL, Action.provider_ref == pagos360_id)
    )
    if request is None:
        return DebitStreak()
    if outcome is not None and request.outcome != PAID:  # a paid debit stays paid
        request.outcome = outcome
    session.flush()
    cycles: dict[str, set[str | None]] = {}
    for cycle, ended in session.execute(
        select(DebitRequest.cycle, DebitRequest.outcome)
        .where(DebitRequest.adhesion_pagos360_id == request.adhesion_pagos360_id)
        .order_by(DebitRequest.cycle.desc())
    ):
        cycles.setdefault(cycle, set()).add(ended)
    streak = 0
    for outcomes in cycles.values():  # newest first
        if outcomes != {REJECTED}:
            break
        streak += 1
    adhesion = session.scalar(select(CardAdhesion).where(CardAdhesion.pagos360_id == request.adhesion_pagos360_id))
    if adhesion is None or streak < threshold or adhesion.left_group_at is not None:
        return DebitStreak(rejected_cycles=streak)
    left = session.execute(
        update(CardAdhesion)
        .where(CardAdhesion.id == adhesion.id, CardAdhesion.left_group_at.is_(None))
        .values(left_group_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return DebitStreak(rejected_cycles=streak, leaves_group=bool(left), previous_group_id=adhesion.previous_group_id)
