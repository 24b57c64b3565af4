"""Where a debit's payment belongs: the rules the planner (hooks/direct_debit.py) applies
when it plans a payment and the payment guard (bridge/work/payments.py) applies again right
before it pays, so that both refuse for the same reasons and in the same words."""

from __future__ import annotations

from decimal import Decimal

# An invoice in one of these WHMCS states takes no payment.
CLOSED_INVOICE_STATES = ("Paid", "Cancelled", "Refunded", "Collections")


def misplaced(
    *,
    debit_id: str,
    amount: Decimal | None,
    client_id: str,
    invoice_id: str,
    invoice_number: str,
    invoice_client_id: str,
    balance: Decimal | None,
    requested_amount: Decimal | None,
    requested_invoice_id: str = "",
) -> str | None:
    """Why this debit's payment does not belong on this invoice, or None when it does.

    It belongs when the invoice is the client's whose card adhesion was debited, and the
    amount is what the bridge asked Pagos360 to debit (its own debit request) or, for a
    debit the bridge did not request (made by hand in Pagos360), the invoice's balance.
    """
    if invoice_client_id != client_id:
        return (
            f"invoice {invoice_number} belongs to client {invoice_client_id or '(none)'}, not to client "
            f"{client_id}, whose card adhesion debit {debit_id} charged"
        )
    if amount is None:
        return f"Pagos360 shows no amount for debit {debit_id}"
    if requested_amount is not None:
        if requested_invoice_id and requested_invoice_id != invoice_id:
            return f"the bridge requested debit {debit_id} for invoice {requested_invoice_id}, not {invoice_number}"
        if amount != requested_amount:
            return f"debit {debit_id} charged {amount}, but the bridge requested {requested_amount}"
        return None
    if amount != balance:
        return (
            f"debit {debit_id} (not requested by the bridge) charged {amount}, "
            f"but the balance of invoice {invoice_number} is {balance if balance is not None else 'unknown'}"
        )
    return None
