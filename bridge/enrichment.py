"""Look up what an event's hooks need: from the hook's own parameters, then from WHMCS.

Each WHMCS call is made at most once per event (the planner resolves everything before
any hook runs), and the raw answers are never stored: only the fields the messages use
end up in EventData, so no password hash or credential WHMCS returns is kept.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.event_data import Client, Contact, EventData, Invoice, Quote, Service
from providers.whmcs_api import NotFound, WhmcsApi

CONTACT_PREFERENCES = {
    "general": "generalemails",
    "invoice": "invoiceemails",
    "product": "productemails",
    "domain": "domainemails",
}


class Enricher:
    def __init__(self, whmcs: WhmcsApi | None) -> None:
        self.whmcs = whmcs
        self.lookups: list[str] = []

    def resolve(self, params: dict[str, Any], needs: frozenset[str]) -> EventData:
        """EventData for these hook parameters. Raises NotFound when the client is gone,
        ProviderError when WHMCS cannot be asked right now."""
        flat = params.get("params") if isinstance(params.get("params"), dict) else params
        invoice = self._invoice(flat) if "invoice" in needs else None
        quote = self._quote(flat) if "quote" in needs else None
        service = self._service(flat) if "service" in needs else None
        domain_name = self._domain_name(flat) if "domain" in needs else ""
        client_id = _first(
            flat.get("userid"),
            flat.get("client_id"),
            flat.get("clientid"),
            (flat.get("clientsdetails") or {}).get("userid"),
            invoice.client_id if invoice else None,
            quote.client_id if quote else None,
        )
        client, missing = None, ""
        if "client" in needs or "contacts" in needs:
            client, missing = self._client(client_id, flat)
        contacts = self._contacts(client.id) if client and "contacts" in needs else ()
        return EventData(
            client=client,
            contacts=contacts,
            invoice=invoice,
            service=service,
            quote=quote,
            domain_name=domain_name,
            missing=missing,
            lookups=tuple(self.lookups),
        )

    def _call(self, action: str, **params: Any) -> dict[str, Any]:
        assert self.whmcs is not None
        self.lookups.append(action)
        return self.whmcs.call(action, **params)

    def _client(self, client_id: str | None, flat: dict[str, Any]) -> tuple[Client | None, str]:
        not_configured = "the WHMCS API is not configured (WHMCS_API_URL)"
        if not client_id:
            return None, "the event names no client" + (f", and {not_configured}" if self.whmcs is None else "")
        if self.whmcs is None:
            source = flat.get("clientsdetails") if isinstance(flat.get("clientsdetails"), dict) else flat
            if not source.get("email") and not source.get("phonenumber"):
                return None, f"no client details in the event, and {not_configured}"
            return _client_from(client_id, source), ""
        try:
            answer = self._call("GetClientsDetails", clientid=client_id, stats="false")
        except NotFound:
            raise NotFound(f"client {client_id} no longer exists in WHMCS") from None
        return _client_from(client_id, answer.get("client") or answer), ""

    def _contacts(self, client_id: str) -> tuple[Contact, ...]:
        if self.whmcs is None:
            return ()
        rows = whmcs_rows(self._call("GetContacts", userid=client_id, limitnum=250), "contacts", "contact")
        return tuple(
            Contact(
                id=str(row.get("id", "")),
                firstname=str(row.get("firstname") or ""),
                lastname=str(row.get("lastname") or ""),
                email=str(row.get("email") or ""),
                receives=frozenset(kind for kind, key in CONTACT_PREFERENCES.items() if _truthy(row.get(key))),
            )
            for row in rows
        )

    def _invoice(self, flat: dict[str, Any]) -> Invoice | None:
        invoice_id = _first(flat.get("invoiceid"))
        if not invoice_id:
            return None
        if self.whmcs is None:
            return Invoice(
                id=invoice_id, number=str(flat.get("invoicenum") or invoice_id), client_id=str(flat.get("userid") or "")
            )
        answer = self._call("GetInvoice", invoiceid=invoice_id)
        return Invoice(
            id=invoice_id,
            number=str(answer.get("invoicenum") or invoice_id),
            client_id=str(answer.get("userid") or ""),
            total=to_decimal(answer.get("total")),
            balance=to_decimal(answer.get("balance")),
            currency_code=str(answer.get("currencycode") or ""),
            due_date=_date(answer.get("duedate")),
            date_paid=_date(answer.get("datepaid")),
            status=str(answer.get("status") or ""),
        )

    def _quote(self, flat: dict[str, Any]) -> Quote | None:
        quote_id = _first(flat.get("quoteid"))
        if not quote_id:
            return None
        if self.whmcs is None:
            return Quote(id=quote_id, subject=str(flat.get("subject") or ""), client_id=str(flat.get("userid") or ""))
        rows = whmcs_rows(self._call("GetQuotes", quoteid=quote_id), "quotes", "quote")
        if not rows:
            raise NotFound(f"quote {quote_id} no longer exists in WHMCS")
        row = rows[0]
        return Quote(
            id=quote_id,
            subject=str(row.get("subject") or ""),
            total=to_decimal(row.get("total")),
            valid_until=_date(row.get("validuntil")),
            client_id=str(row.get("userid") or ""),
        )

    def _service(self, flat: dict[str, Any]) -> Service | None:
        service_id = _first(flat.get("serviceid"), flat.get("accountid"))
        if not service_id:
            return None
        name = str(flat.get("productname") or flat.get("name") or "")
        domain = str(flat.get("domain") or "")
        if not name and self.whmcs is not None:
            rows = whmcs_rows(self._call("GetClientsProducts", serviceid=service_id), "products", "product")
            if rows:
                name, domain = str(rows[0].get("name") or ""), domain or str(rows[0].get("domain") or "")
        return Service(id=service_id, name=name, domain=domain, suspend_reason=str(flat.get("suspendreason") or ""))

    def _domain_name(self, flat: dict[str, Any]) -> str:
        name = str(flat.get("domain") or flat.get("domainname") or "")
        if name or self.whmcs is None or not flat.get("domainid"):
            return name
        try:
            rows = whmcs_rows(self._call("GetClientsDomains", domainid=flat["domainid"]), "domains", "domain")
        except NotFound:
            return ""  # deleted before we asked: the PHP hook adds the name for this reason
        return str(rows[0].get("domainname") or "") if rows else ""


def _client_from(client_id: str, row: dict[str, Any]) -> Client:
    custom = row.get("customfields", row.get("customFields")) or {}
    if isinstance(custom, list):  # the API: [{"id": 7, "value": "on"}]; hooks: {"7": "on"}
        custom = {str(item.get("id")): str(item.get("value") or "") for item in custom if isinstance(item, dict)}
    preferences = row.get("email_preferences") or {}
    return Client(
        id=str(client_id),
        firstname=str(row.get("firstname") or ""),
        lastname=str(row.get("lastname") or ""),
        companyname=str(row.get("companyname") or ""),
        email=str(row.get("email") or ""),
        phonenumber=str(row.get("phonenumber") or ""),
        phonecc=str(row.get("phonecc") or ""),
        country=str(row.get("countrycode") or row.get("country") or ""),
        language=str(row.get("language") or ""),
        groupid=int(_first(row.get("groupid")) or 0),
        currency_code=str(row.get("currency_code") or ""),
        email_preferences={str(k): _truthy(v) for k, v in preferences.items()} if isinstance(preferences, dict) else {},
        custom_fields={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
    )


def whmcs_rows(answer: dict[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    """WHMCS wraps lists as {"quotes": {"quote": [...]}}, or "" when there are none."""
    block = answer.get(outer)
    rows = block.get(inner) if isinstance(block, dict) else None
    if isinstance(rows, dict):
        rows = [rows]
    return [row for row in rows or [] if isinstance(row, dict)]


def _first(*values: Any) -> str | None:
    for value in values:
        if value not in (None, "", 0, "0"):
            return str(value)
    return None


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "on", "yes")


def to_decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None  # WHMCS writes "0000-00-00" for "never"
