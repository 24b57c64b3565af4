"""An order as the activation policy needs it (bridge.core.activation): GetOrders for the
order and its lines, GetClientsProducts for each line's product id and group and for the
client's history, GetInvoices only when that did not tell."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bridge.core.event_data import Order, OrderLine
from bridge.core.event_fields import first_identifier, identifier, money, text
from providers.whmcs_api import NotFound, whmcs_rows

# One WHMCS API call, counted among the event's look-ups (bridge.planning.enrichment).
Call = Callable[..., dict[str, Any]]


def read_order(call: Call | None, flat: Mapping[str, Any], at: str) -> Order | None:
    """The order an event names (`orderId`, OrderPaid's spelling, or `orderid`), from GetOrders;
    without the API, what the hook carries."""
    order_id = first_identifier((flat.get("orderId"), f"{at}orderId"), (flat.get("orderid"), f"{at}orderid"))
    if not order_id:
        return None
    if call is None:
        client = first_identifier((flat.get("userId"), f"{at}userId"), (flat.get("userid"), f"{at}userid"))
        invoice = identifier(flat.get("invoiceId"), f"{at}invoiceId") or ""
        return Order(id=order_id, number=order_id, client_id=client or "", invoice_id=invoice)
    rows = whmcs_rows(call("GetOrders", id=order_id), "orders", "order")
    if not rows:
        raise NotFound(f"order {order_id} no longer exists in WHMCS")
    row, where = rows[0], "GetOrders.order."
    lines = tuple(
        OrderLine(
            service_id=text(line.get("relid"), f"{where}lineitems.lineitem.relid"),
            product=text(line.get("product"), f"{where}lineitems.lineitem.product"),
            domain=text(line.get("domain"), f"{where}lineitems.lineitem.domain"),
            kind=text(line.get("type"), f"{where}lineitems.lineitem.type") or "product",
        )
        for line in whmcs_rows(row, "lineitems", "lineitem")
    )
    return Order(
        id=order_id,
        number=text(row.get("ordernum"), f"{where}ordernum") or order_id,
        client_id=text(row.get("userid"), f"{where}userid"),
        status=text(row.get("status"), f"{where}status"),
        payment_method=text(row.get("paymentmethod"), f"{where}paymentmethod"),
        payment_method_name=text(row.get("paymentmethodname"), f"{where}paymentmethodname"),
        invoice_id=text(row.get("invoiceid"), f"{where}invoiceid"),
        total=money(row.get("amount"), f"{where}amount"),
        lines=lines,
    )


def with_products(call: Call, order: Order, client_id: str) -> Order:
    """The product id and group of each of the order's services, and whether the client
    had an active service (of another order) or a paid invoice before this order: one
    GetClientsProducts for the client, and GetInvoices only when that did not tell."""
    rows = whmcs_rows(call("GetClientsProducts", clientid=client_id, limitnum=250), "products", "product")
    where = "GetClientsProducts.product."
    by_service = {text(row.get("id"), f"{where}id"): row for row in rows}
    lines = tuple(
        replace(
            line,
            pid=text(by_service[line.service_id].get("pid"), f"{where}pid"),
            group=text(by_service[line.service_id].get("groupname"), f"{where}groupname"),
        )
        if line.kind == "product" and line.service_id in by_service
        else line
        for line in order.lines
    )
    own = {line.service_id for line in order.lines}
    returning = any(
        text(row.get("status"), f"{where}status") == "Active" and text(row.get("id"), f"{where}id") not in own
        for row in rows
    )
    if not returning:
        paid = whmcs_rows(call("GetInvoices", userid=client_id, status="Paid", limitnum=25), "invoices", "invoice")
        returning = any(
            text(row.get("id"), "GetInvoices.invoice.id") != order.invoice_id
            and text(row.get("status"), "GetInvoices.invoice.status") == "Paid"
            for row in paid
        )
    return replace(order, lines=lines, returning=returning)
