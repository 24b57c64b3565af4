"""Accepting a paid WHMCS order (AcceptOrder with auto-setup): once, and only while it waits.

A `whmcs_order` Action (planned by hooks/orders.py when the activation policy says
`instant`) is carried out here, not by the provider alone: AcceptOrder makes WHMCS's module
provision the services, and two workers that both read "Pending" and both accept could set
them up twice. The guard is a row in `order_activations`, unique per order:

1. A row that is `done`: the order is accepted; nothing is called.
2. A row `claimed` by another Action whose attempt is still open: that worker is accepting
   it right now; this Action is skipped and says which one has it.
3. No row, or a row whose claimer is gone (its attempt closed): claim it, then GetOrders.
   Active: done (whoever accepted it, staff included). Pending: AcceptOrder, then `done`.
   Any other status (Cancelled, Fraud): not accepted, the Action fails for staff.
4. WHMCS refuses AcceptOrder: "Order ID not found or Status not Pending" covers both a
   missing and an accepted order, so GetOrders decides (Active: done). Any other refusal
   (a server or registrar error) fails the Action with WHMCS's words, and the staff alerts
   the Action carries are stored (bridge.core.failure_alerts). The claim is released so a
   retry from the log page may accept it once the cause is fixed. An answer that never came
   keeps the claim: the next try reads GetOrders before it would accept again.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core.actions import ORDER_CHANNEL
from bridge.store.db import Database
from bridge.store.models import Action, OrderActivation, utcnow
from bridge.work.claims import attempt_open
from bridge.work.executors import Executed
from providers.base import ProviderError
from providers.whmcs_api import OUTCOME_UNKNOWN, WhmcsOrders

CLAIMED, DONE = "claimed", "done"
ACTIVE, PENDING = "Active", "Pending"


class OrderInOtherHands(ProviderError):
    """Another Action is accepting this very order right now: nothing for this one to do."""

    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class OrderActivator:
    """The `whmcs_order` executor: accepts orders through the `order_activations` claim."""

    channel = ORDER_CHANNEL
    rate_key = None
    per_second = None

    def __init__(self, db: Database, whmcs: WhmcsOrders) -> None:
        self.db = db
        self.whmcs = whmcs

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        order_id = str((action.content or {}).get("order_id") or "")
        if not order_id:
            raise ProviderError("this order Action names no order: nothing accepted", permanent=True)
        claim = self._claim(order_id, action.id, attempt_id)
        if claim is not None:
            return claim
        status = self.whmcs.status(order_id)
        if status == ACTIVE:
            return self._done(order_id, "already active in WHMCS")
        if status != PENDING:
            self._release(order_id, attempt_id)
            raise ProviderError(
                f"order {order_id} is {status or 'without a status'} in WHMCS: not accepted", permanent=True
            )
        try:
            self.whmcs.accept(order_id)
        except ProviderError as exc:
            if exc.code == OUTCOME_UNKNOWN or not exc.permanent:
                raise  # the claim stays: the next try asks GetOrders before accepting again
            if self.whmcs.status(order_id) == ACTIVE:
                return self._done(order_id, "active in WHMCS (AcceptOrder found it no longer Pending)")
            self._release(order_id, attempt_id)
            raise
        return self._done(order_id, "accepted with AcceptOrder (auto-setup)")

    def _claim(self, order_id: str, action_id: int, attempt_id: int) -> Executed | None:
        """Claim the order for this attempt; an Executed when there is nothing to do."""
        try:
            with self.db.session() as session:
                session.execute(
                    insert(OrderActivation).values(
                        order_id=order_id, state=CLAIMED, action_id=action_id, attempt_id=attempt_id
                    )
                )
            return None
        except IntegrityError:
            pass
        with self.db.session() as session:
            row = session.scalar(select(OrderActivation).where(OrderActivation.order_id == order_id))
            if row is None:
                raise ProviderError(f"the claim on order {order_id} came and went: trying again", permanent=False)
            if row.state == DONE:
                return _noted(order_id, f"already accepted by action {row.action_id}: {row.note}")
            if row.action_id != action_id and attempt_open(self.db, row.attempt_id):
                raise OrderInOtherHands(f"order {order_id} is being accepted by action {row.action_id}")
            # The claimer is gone (or is this Action's own earlier try): take the claim over;
            # GetOrders comes before any AcceptOrder.
            session.execute(
                update(OrderActivation)
                .where(OrderActivation.order_id == order_id, OrderActivation.state == CLAIMED)
                .values(action_id=action_id, attempt_id=attempt_id)
            )
        return None

    def _done(self, order_id: str, note: str) -> Executed:
        with self.db.session() as session:
            session.execute(
                update(OrderActivation)
                .where(OrderActivation.order_id == order_id)
                .values(state=DONE, done_at=utcnow(), note=note)
            )
        return _noted(order_id, note)

    def _release(self, order_id: str, attempt_id: int) -> None:
        with self.db.session() as session:
            session.execute(
                delete(OrderActivation).where(
                    OrderActivation.order_id == order_id,
                    OrderActivation.state == CLAIMED,
                    OrderActivation.attempt_id == attempt_id,
                )
            )


def _noted(order_id: str, note: str) -> Executed:
    return Executed(provider_ref=f"order {order_id}", http_status=200, detail={"note": note})
