"""The one write path for an Action's state: a compare-and-set plus a transition row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.orm import Session

from bridge import metrics
from bridge.core.states import FINAL, State, can_move
from bridge.store.models import utcnow
from bridge.store.tables import ACTIONS, TRANSITIONS


def move(
    session: Session,
    action_id: int,
    to_state: State,
    reason: str,
    *,
    expect: Iterable[State],
    claim: int | None = None,
    **fields: Any,
) -> bool:
    """Move the action to `to_state` if it is now in one of the `expect` states; say if it did.

    One UPDATE whose `WHERE state IN (<expected states that may move to to_state>)` is the
    lock: of two workers (or a worker and the relay) racing for the same action, exactly
    one sees rowcount 1, and the loser changes nothing. No read first: a state read before
    the UPDATE may be stale by the time it runs. Every move is recorded with where it came
    from and why. Extra `fields` are written in the same UPDATE. `claim` (an attempt number)
    also requires the Action to be on that attempt: a worker finishing a send the relay
    already gave up on (and another worker may have claimed again) must not move it.
    """
    return move_returning(session, action_id, to_state, reason, expect=expect, claim=claim, **fields) is not None


def move_returning(
    session: Session,
    action_id: int,
    to_state: State,
    reason: str,
    *,
    expect: Iterable[State],
    claim: int | None = None,
    **fields: Any,
) -> Row[Any] | None:
    """`move`, returning the Action's whole row as the UPDATE left it (None: it did not
    move): the claim reads the Action it takes in the statement that takes it."""
    sources = sorted(str(state) for state in set(expect) if can_move(state, to_state))
    if not sources:
        return None
    conditions = [ACTIONS.c.id == action_id, ACTIONS.c.state.in_(sources)]
    if claim is not None:
        conditions.append(ACTIONS.c.attempts == claim)
    # Core statements on the tables, not the ORM's: this runs several times per job, and the
    # ORM's bulk-update path cost more than the statement (issue 16's profile).
    row = session.execute(
        update(ACTIONS).where(*conditions).values(state=str(to_state), updated_at=utcnow(), **fields).returning(ACTIONS)
    ).first()
    if row is None:
        return None
    from_state: Any = sources[0]
    if len(sources) > 1:
        # Which of them it was: the destination of the Action's latest transition. The move
        # before this one wrote it in its own transaction, which has committed (this UPDATE
        # waited for the row's lock until then), and no later move can start before this
        # transaction ends. A statement after the UPDATE sees it (READ COMMITTED takes a
        # snapshot per statement; SQLite's writers are serialised).
        from_state = (
            select(TRANSITIONS.c.to_state)
            .where(TRANSITIONS.c.action_id == action_id)
            .order_by(TRANSITIONS.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
    session.execute(
        insert(TRANSITIONS).values(
            action_id=action_id, from_state=from_state, to_state=str(to_state), reason=reason, at=utcnow()
        )
    )
    if to_state in FINAL:  # every move into a final state passes here: counted once, here
        metrics.action_finished(row.channel, to_state)
    return row
