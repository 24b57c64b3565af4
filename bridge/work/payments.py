"""Adding a paid Pagos360 debit to its WHMCS invoice: once, and only where it belongs.

A `whmcs_payment` Action (planned by hooks/direct_debit.py) is carried out here, by the
`whmcs_payment` executor (bridge.work.executors), not by the provider alone, because "once"
cannot be promised by reading the invoice and then writing to it: two workers (two
notifications of one debit, a retry racing a slow WHMCS) both read "not paid yet" and
both pay. The guard is a row in `debit_payments`,
unique per debit request:

1. A row that is `done`: the payment is recorded; nothing is called.
2. A row `claimed` by another Action whose attempt is still open: that worker is adding it
   right now; this Action is skipped and says which one has it.
3. A row `claimed` by an attempt that is closed (the worker died, the relay gave it up,
   or WHMCS never answered): GetInvoice. The debit's transaction id on the invoice means
   the payment landed (`done`); its absence fails the Action for staff to check. Never a
   second AddInvoicePayment: that earlier call may still land.
4. No row: GetInvoice, check that the payment belongs there (`misplaced`), insert the
   `claimed` row in a committed transaction of its own (losing that insert to another
   worker is case 2 or 3), call AddInvoicePayment, mark the row `done`. A refusal from
   WHMCS (it added nothing) deletes the claim so that a retry may try again; a failure
   after which the payment may exist keeps it (case 3 on the next try).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core.event_fields import EventShapeError, money
from bridge.core.invoices import CLOSED_INVOICE_STATES, misplaced
from bridge.store.db import Database
from bridge.store.models import Action, DebitPayment, utcnow
from bridge.work.claims import attempt_open
from bridge.work.executors import Executed
from providers.base import ProviderError, SendResult
from providers.whmcs_api import OUTCOME_UNKNOWN, PayableInvoice, WhmcsPayments

CLAIMED, DONE = "claimed", "done"


class PaymentRefused(ProviderError):
    """The payment must not be added (wrong invoice, client or amount, or an earlier
    attempt's outcome is unknown): the Action fails with the reason, for staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class PaymentInOtherHands(ProviderError):
    """Another Action is adding this very payment right now: nothing for this one to do."""

    skip = True

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def cents(value: Any) -> Decimal | None:
    """An amount of the Action's content; one that is not an amount reads as none, which
    PaymentOrder refuses rather than guess."""
    try:
        return money(value, "amount")
    except EventShapeError:
        return None


@dataclass(frozen=True)
class PaymentOrder:
    """A `whmcs_payment` Action's content: what to add, and what it was checked against."""

    invoice_id: str
    transid: str
    gateway: str
    amount: Decimal
    date: str | None
    client_id: str
    requested_amount: Decimal | None

    @classmethod
    def of(cls, content: dict[str, Any]) -> PaymentOrder:
        amount, client_id = cents(content.get("amount")), str(content.get("clientid") or "")
        if not content.get("invoiceid") or not content.get("transid") or amount is None or not client_id:
            # Planned without what the checks need (e.g. before they existed): never guess.
            raise PaymentRefused(
                "this payment Action lacks its invoice, debit, amount or client: not added; "
                "replay the Pagos360 event from the log to plan it again"
            )
        return cls(
            invoice_id=str(content["invoiceid"]),
            transid=str(content["transid"]),
            gateway=str(content.get("gateway") or ""),
            amount=amount,
            date=content.get("date"),
            client_id=client_id,
            requested_amount=cents(content.get("requested_amount")),
        )


class PaymentGuard:
    """The `whmcs_payment` executor: carries out its Actions through the `debit_payments`
    claim (see above). Not paced: WHMCS sets no send rate here."""

    channel = "whmcs_payment"
    rate_key = None
    per_second = None

    def __init__(self, db: Database, whmcs: WhmcsPayments) -> None:
        self.db = db
        self.whmcs = whmcs

    def carry_out(self, action: Action, attempt_id: int) -> Executed:
        # Money: claimed in the database before WHMCS is asked, so it is added once.
        return Executed.of(self.pay(action, attempt_id))

    def pay(self, action: Action, attempt_id: int) -> SendResult:
        """Add the payment, or find it added; `attempt_id` is the caller's open attempt."""
        order = PaymentOrder.of(action.content)
        claim = self._claim_of(order.transid)
        if claim is not None:
            return self._settle(order, claim, action.id)
        invoice = self.whmcs.invoice(order.invoice_id)
        if order.transid in invoice.transids:
            self._record_found(order, action.id, attempt_id)
            return _recorded(order, "already recorded on the invoice")
        _check(order, invoice)
        if not self._insert_claim(order, action.id, attempt_id):
            claim = self._claim_of(order.transid)  # another worker claimed it since our look
            if claim is not None:
                return self._settle(order, claim, action.id)
            raise ProviderError(f"the claim on debit {order.transid} came and went: trying again", permanent=False)
        try:
            self.whmcs.add(
                invoice_id=order.invoice_id,
                transid=order.transid,
                gateway=order.gateway,
                amount=f"{order.amount:f}",
                date=order.date,
            )
        except ProviderError as exc:
            if exc.code != OUTCOME_UNKNOWN:
                self._release(order.transid, attempt_id)  # WHMCS added nothing: a retry may claim again
                raise
            raise ProviderError(
                f"{exc.message}; WHMCS may have recorded payment {order.transid} all the same: "
                "the next try looks for it on the invoice and never adds it again",
                permanent=False,
                http_status=exc.http_status,
                code=OUTCOME_UNKNOWN,
            ) from None
        self._mark_done(order.transid, "added with AddInvoicePayment")
        return SendResult(provider_ref=order.transid, http_status=200)

    # -- an existing claim ----------------------------------------------------------------

    def _settle(self, order: PaymentOrder, claim: DebitPayment, action_id: int) -> SendResult:
        if claim.state == DONE:
            return _recorded(order, f"already recorded by action {claim.action_id}: {claim.note}")
        if claim.action_id != action_id and attempt_open(self.db, claim.attempt_id):
            who = f"action {claim.action_id}"
            raise PaymentInOtherHands(f"the payment of debit {order.transid} is being added by {who}")
        # The claimer is gone without saying how its AddInvoicePayment ended: WHMCS knows.
        invoice = self.whmcs.invoice(order.invoice_id)
        if order.transid in invoice.transids:
            self._mark_done(order.transid, f"found on the invoice after action {claim.action_id} got no clear answer")
            return _recorded(order, "already recorded on the invoice")
        raise PaymentRefused(
            f"payment of debit {order.transid} to invoice {invoice.number}: action {claim.action_id} claimed it "
            f"and may have called AddInvoicePayment, but its outcome is unknown and the invoice does not show "
            f"transaction {order.transid}. Not added again: check the invoice in WHMCS and add the payment by "
            "hand if it is missing (a retry of this Action then finds it there)"
        )

    # -- the row ----------------------------------------------------------------------------

    def _claim_of(self, transid: str) -> DebitPayment | None:
        with self.db.session() as session:
            return session.scalar(select(DebitPayment).where(DebitPayment.pagos360_id == transid))

    def _insert_claim(self, order: PaymentOrder, action_id: int, attempt_id: int) -> bool:
        """The guard itself: committed before AddInvoicePayment; False if another has it."""
        try:
            with self.db.session() as session:
                session.execute(insert(DebitPayment).values(**_row(order, action_id, attempt_id), state=CLAIMED))
        except IntegrityError:
            return False
        return True

    def _record_found(self, order: PaymentOrder, action_id: int, attempt_id: int) -> None:
        """The payment was on the invoice before anyone here claimed it (added by hand, or
        before this guard existed): keep that on record, so nobody asks WHMCS again."""
        try:
            with self.db.session() as session:
                values = _row(order, action_id, attempt_id)
                session.execute(
                    insert(DebitPayment).values(
                        **values, state=DONE, done_at=utcnow(), note="found on the invoice before any claim"
                    )
                )
        except IntegrityError:
            pass  # someone recorded it meanwhile: same conclusion

    def _mark_done(self, transid: str, note: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(DebitPayment)
                .where(DebitPayment.pagos360_id == transid)
                .values(state=DONE, done_at=utcnow(), note=note)
            )

    def _release(self, transid: str, attempt_id: int) -> None:
        with self.db.session() as session:
            session.execute(
                delete(DebitPayment).where(
                    DebitPayment.pagos360_id == transid,
                    DebitPayment.state == CLAIMED,
                    DebitPayment.attempt_id == attempt_id,
                )
            )


def _check(order: PaymentOrder, invoice: PayableInvoice) -> None:
    """The invoice as WHMCS shows it now must still take this payment (it may have changed
    since the planner looked)."""
    if invoice.status in CLOSED_INVOICE_STATES:
        raise PaymentRefused(f"invoice {invoice.number} is {invoice.status}: payment {order.transid} not added")
    reason = misplaced(
        debit_id=order.transid,
        amount=order.amount,
        client_id=order.client_id,
        invoice_id=order.invoice_id,
        invoice_number=invoice.number,
        invoice_client_id=invoice.client_id,
        balance=invoice.balance,
        requested_amount=order.requested_amount,
    )
    if reason:
        raise PaymentRefused(f"payment not added: {reason}")


def _row(order: PaymentOrder, action_id: int, attempt_id: int) -> dict[str, Any]:
    return {
        "pagos360_id": order.transid,
        "invoice_id": order.invoice_id,
        "amount": order.amount,
        "action_id": action_id,
        "attempt_id": attempt_id,
    }


def _recorded(order: PaymentOrder, note: str) -> SendResult:
    return SendResult(provider_ref=order.transid, http_status=200, detail={"note": note})
