"""Look up what an event's hooks need: from the hook's own parameters, then from WHMCS.

Each WHMCS call is made at most once per event (the planner resolves everything before
any hook runs), and the raw answers are never stored: only the fields the messages use
end up in EventData, so no password hash or credential WHMCS returns is kept.

Every field is read through bridge.core.event_fields: one of the wrong shape raises
EventShapeError naming it (as the hook wrote it, e.g. `params.clientsdetails`, or as the
API answered it, e.g. `GetClientsDetails.groupid`), which fails the planning for good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bridge.core.event_data import (
    Admin,
    Client,
    Contact,
    EventData,
    Invoice,
    Quote,
    Service,
    Ticket,
)
from bridge.core.event_fields import day, first_identifier, identifier, mapping, money, number, text
from bridge.core.whmcs_params import HookFields, hook_fields
from bridge.planning.order_lookup import read_order, with_products
from providers.whmcs_api import NotFound, WhmcsApi, whmcs_rows

CONTACT_PREFERENCES = {
    "general": "generalemails",
    "invoice": "invoiceemails",
    "product": "productemails",
    "domain": "domainemails",
    "support": "supportemails",
}


class Enricher:
    def __init__(self, whmcs: WhmcsApi | None) -> None:
        self.whmcs = whmcs
        self.lookups: list[str] = []

    def resolve(self, params: dict[str, Any], needs: frozenset[str]) -> EventData:
        """EventData for these hook parameters. Raises NotFound when the client is gone,
        ProviderError when WHMCS cannot be asked right now, EventShapeError when a field
        has the wrong shape."""
        hook = hook_fields(params)
        flat, at = hook.fields, hook.at
        invoice = self._invoice(flat, at) if "invoice" in needs else None
        quote = self._quote(flat, at) if "quote" in needs else None
        service = self._service(flat, at, "service_billing" in needs) if "service" in needs else None
        domain_name = self._domain_name(flat, at) if "domain" in needs else ""
        ticket = self._ticket(flat, at) if "ticket" in needs else None
        call = self._call if self.whmcs is not None else None
        order = read_order(call, flat, at) if "order" in needs else None
        client_id = first_identifier(
            *hook.client_id_candidates(),
            (invoice.client_id if invoice else None, "invoice's userid"),
            (quote.client_id if quote else None, "quote's userid"),
            (ticket.client_id if ticket else None, "ticket's userid"),
            (order.client_id if order else None, "order's userid"),
        )
        client, missing = None, ""
        if "client" in needs or "contacts" in needs:
            client, missing = self._client(client_id, hook)
        # A ticket's contacts only when a contact opened it ("ticket_contact"): most answers
        # go to the client, and GetContacts is one more call per staff reply.
        wanted = "contacts" in needs or ("ticket_contact" in needs and ticket is not None and bool(ticket.contact_id))
        contacts = self._contacts(client.id) if client and wanted else ()
        if order is not None and self.whmcs is not None and client_id:
            order = with_products(self._call, order, client_id)
        flagged = None
        if "flagged_admin" in needs and ticket is not None and ticket.flagged_admin_id:
            flagged = self._admin(ticket.flagged_admin_id)
        user_clients: tuple[Client, ...] = ()
        if "user_clients" in needs:
            user_clients, missing = self._user_clients(flat, at)
        return EventData(
            client=client,
            contacts=contacts,
            invoice=invoice,
            service=service,
            quote=quote,
            domain_name=domain_name,
            ticket=ticket,
            order=order,
            flagged_admin=flagged,
            user_clients=user_clients,
            missing=missing,
            lookups=tuple(self.lookups),
        )

    def _call(self, action: str, **params: Any) -> dict[str, Any]:
        assert self.whmcs is not None
        self.lookups.append(action)
        return self.whmcs.call(action, **params)

    def _client(self, client_id: str | None, hook: HookFields) -> tuple[Client | None, str]:
        not_configured = "the WHMCS API is not configured (WHMCS_API_URL)"
        if not client_id:
            return None, "the event names no client" + (f", and {not_configured}" if self.whmcs is None else "")
        if self.whmcs is None:
            details = hook.client_details
            source, where = (details, f"{hook.at}clientsdetails.") if details else (hook.fields, hook.at)
            if not source.get("email") and not source.get("phonenumber"):
                return None, f"no client details in the event, and {not_configured}"
            return _client_from(client_id, source, where), ""
        try:
            answer = self._call("GetClientsDetails", clientid=client_id, stats="false")
        except NotFound:
            raise NotFound(f"client {client_id} no longer exists in WHMCS") from None
        row = mapping(answer.get("client"), "GetClientsDetails.client")
        return _client_from(client_id, row or answer, "GetClientsDetails."), ""

    def _contacts(self, client_id: str) -> tuple[Contact, ...]:
        if self.whmcs is None:
            return ()
        rows = whmcs_rows(self._call("GetContacts", userid=client_id, limitnum=250), "contacts", "contact")
        where = "GetContacts.contact."
        return tuple(
            Contact(
                id=text(row.get("id"), f"{where}id"),
                firstname=text(row.get("firstname"), f"{where}firstname"),
                lastname=text(row.get("lastname"), f"{where}lastname"),
                email=text(row.get("email"), f"{where}email"),
                receives=frozenset(kind for kind, key in CONTACT_PREFERENCES.items() if _truthy(row.get(key))),
                phonenumber=text(row.get("phonenumber"), f"{where}phonenumber"),
            )
            for row in rows
        )

    def _invoice(self, flat: Mapping[str, Any], at: str) -> Invoice | None:
        invoice_id = identifier(flat.get("invoiceid"), f"{at}invoiceid")
        if not invoice_id:
            return None
        if self.whmcs is None:
            return Invoice(
                id=invoice_id,
                number=text(flat.get("invoicenum"), f"{at}invoicenum") or invoice_id,
                client_id=text(flat.get("userid"), f"{at}userid"),
            )
        answer = self._call("GetInvoice", invoiceid=invoice_id)
        return Invoice(
            id=invoice_id,
            number=text(answer.get("invoicenum"), "GetInvoice.invoicenum") or invoice_id,
            client_id=text(answer.get("userid"), "GetInvoice.userid"),
            total=money(answer.get("total"), "GetInvoice.total"),
            balance=money(answer.get("balance"), "GetInvoice.balance"),
            currency_code=text(answer.get("currencycode"), "GetInvoice.currencycode"),
            due_date=day(answer.get("duedate")),
            date_paid=day(answer.get("datepaid")),
            status=text(answer.get("status"), "GetInvoice.status"),
            payment_method=text(answer.get("paymentmethod"), "GetInvoice.paymentmethod"),
            notes=text(answer.get("notes"), "GetInvoice.notes"),
        )

    def _ticket(self, flat: Mapping[str, Any], at: str) -> Ticket | None:
        ticket_id = identifier(flat.get("ticketid"), f"{at}ticketid")
        if not ticket_id:
            return None
        own = Ticket(
            id=ticket_id,
            number=text(flat.get("ticketmask"), f"{at}ticketmask"),
            subject=text(flat.get("subject"), f"{at}subject"),
            department_id=text(flat.get("deptid"), f"{at}deptid"),
            department_name=text(flat.get("deptname"), f"{at}deptname"),
            priority=text(flat.get("priority"), f"{at}priority"),
            status=text(flat.get("status"), f"{at}status"),
        )
        if self.whmcs is None:
            return own
        answer = self._call("GetTicket", ticketid=ticket_id)
        client_id = text(answer.get("userid"), "GetTicket.userid")
        flag = text(answer.get("flag"), "GetTicket.flag")
        name = text(answer.get("requestor_name"), "GetTicket.requestor_name") or text(
            answer.get("name"), "GetTicket.name"
        )
        email = text(answer.get("requestor_email"), "GetTicket.requestor_email") or text(
            answer.get("email"), "GetTicket.email"
        )
        return replace(
            own,
            number=text(answer.get("tid"), "GetTicket.tid") or own.number,
            code=text(answer.get("c"), "GetTicket.c"),
            client_id=_no_zero(client_id),  # 0: a guest's ticket
            status=text(answer.get("status"), "GetTicket.status") or own.status,
            subject=text(answer.get("subject"), "GetTicket.subject") or own.subject,
            department_id=text(answer.get("deptid"), "GetTicket.deptid") or own.department_id,
            department_name=text(answer.get("deptname"), "GetTicket.deptname") or own.department_name,
            priority=text(answer.get("priority"), "GetTicket.priority") or own.priority,
            flagged_admin_id="" if flag in ("", "0") else flag,
            contact_id=_no_zero(text(answer.get("contactid"), "GetTicket.contactid")),
            requester=f"{name} <{email}>" if name and email else name or email,
        )

    def _quote(self, flat: Mapping[str, Any], at: str) -> Quote | None:
        quote_id = identifier(flat.get("quoteid"), f"{at}quoteid")
        if not quote_id:
            return None
        if self.whmcs is None:
            return Quote(
                id=quote_id,
                subject=text(flat.get("subject"), f"{at}subject"),
                client_id=text(flat.get("userid"), f"{at}userid"),
            )
        rows = whmcs_rows(self._call("GetQuotes", quoteid=quote_id), "quotes", "quote")
        if not rows:
            raise NotFound(f"quote {quote_id} no longer exists in WHMCS")
        row, where = rows[0], "GetQuotes.quote."
        client_id = text(row.get("userid"), f"{where}userid")
        lead = client_id in ("", "0")
        name = f"{text(row.get('firstname'), f'{where}firstname')} {text(row.get('lastname'), f'{where}lastname')}"
        return Quote(
            id=quote_id,
            subject=text(row.get("subject"), f"{where}subject"),
            total=money(row.get("total"), f"{where}total"),
            valid_until=day(row.get("validuntil")),
            client_id="" if lead else client_id,
            stage=text(row.get("stage"), f"{where}stage"),
            lead_name=name.strip() if lead else "",
            lead_email=text(row.get("email"), f"{where}email") if lead else "",
        )

    def _service(self, flat: Mapping[str, Any], at: str, billing: bool = False) -> Service | None:
        """The service the hook names; GetClientsProducts, once, when the hook lacks its name
        or the handlers asked for its billing (next due date, gateway, status)."""
        # CancellationRequest names the service `relid`.
        service_id = first_identifier(
            (flat.get("serviceid"), f"{at}serviceid"),
            (flat.get("accountid"), f"{at}accountid"),
            (flat.get("relid"), f"{at}relid"),
        )
        if not service_id:
            return None
        name = text(flat.get("productname"), f"{at}productname") or text(flat.get("name"), f"{at}name")
        found = Service(
            id=service_id,
            name=name,
            domain=text(flat.get("domain"), f"{at}domain"),
            suspend_reason=text(flat.get("suspendreason"), f"{at}suspendreason"),
        )
        if (name and not billing) or self.whmcs is None:
            return found
        rows = whmcs_rows(self._call("GetClientsProducts", serviceid=service_id), "products", "product")
        if not rows:
            if billing:
                raise NotFound(f"service {service_id} no longer exists in WHMCS")
            return found
        row, where = rows[0], "GetClientsProducts.product."
        found = replace(
            found,
            name=found.name or text(row.get("name"), f"{where}name"),
            domain=found.domain or text(row.get("domain"), f"{where}domain"),
        )
        if not billing:
            return found
        return replace(
            found,
            next_due_date=day(row.get("nextduedate")),
            payment_method=text(row.get("paymentmethod"), f"{where}paymentmethod"),
            status=text(row.get("status"), f"{where}status"),
        )

    def _admin(self, admin_id: str) -> Admin | None:
        answer = self._call("GetAdminUsers")
        for row in answer.get("admin_users") or []:
            if isinstance(row, dict) and text(row.get("id"), "GetAdminUsers.admin_users.id") == admin_id:
                where = "GetAdminUsers.admin_users."
                name = text(row.get("fullName"), f"{where}fullName") or text(row.get("username"), f"{where}username")
                return Admin(
                    id=admin_id,
                    name=name,
                    email=text(row.get("email"), f"{where}email"),
                    language=text(row.get("language"), f"{where}language"),
                )
        return None

    def _user_clients(self, flat: Mapping[str, Any], at: str) -> tuple[tuple[Client, ...], str]:
        """The clients a WHMCS 8 user belongs to. GetUsers cannot be asked for one user id
        (it searches names and emails), so its pages are read until the user is found."""
        user_id = identifier(flat.get("userid"), f"{at}userid")
        if not user_id:
            return (), "the event names no user"
        if self.whmcs is None:
            return (), "the WHMCS API is not configured (WHMCS_API_URL): a user's clients cannot be found"
        start, page = 0, 250
        while True:
            answer = self._call("GetUsers", limitstart=start, limitnum=page)
            users = [row for row in answer.get("users") or [] if isinstance(row, dict)]
            for row in users:
                if text(row.get("id"), "GetUsers.users.id") == user_id:
                    ids = [
                        text(c.get("id"), "GetUsers.users.clients.id")
                        for c in row.get("clients") or []
                        if isinstance(c, dict)
                    ]
                    clients = []
                    for client_id in ids:
                        try:
                            client, _ = self._client(client_id, hook_fields({}))
                        except NotFound:
                            continue  # closed meanwhile: the others still hear it
                        if client is not None:
                            clients.append(client)
                    return tuple(clients), "" if clients else f"user {user_id} belongs to no client"
            start += len(users)
            if not users or start >= number(answer.get("totalresults"), "GetUsers.totalresults"):
                return (), f"user {user_id} is not among WHMCS's users"

    def _domain_name(self, flat: Mapping[str, Any], at: str) -> str:
        name = text(flat.get("domain"), f"{at}domain") or text(flat.get("domainname"), f"{at}domainname")
        domain_id = identifier(flat.get("domainid"), f"{at}domainid")
        if name or self.whmcs is None or not domain_id:
            return name
        try:
            rows = whmcs_rows(self._call("GetClientsDomains", domainid=domain_id), "domains", "domain")
        except NotFound:
            return ""  # deleted before we asked: the PHP hook adds the name for this reason
        return text(rows[0].get("domainname"), "GetClientsDomains.domain.domainname") if rows else ""


def _client_from(client_id: str, row: Mapping[str, Any], where: str) -> Client:
    """The client from a hook's fields or GetClientsDetails's answer; `where` prefixes
    the field names in a shape error."""
    key = "customfields" if "customfields" in row else "customFields"
    custom = row.get(key)
    if isinstance(custom, list):  # the API: [{"id": 7, "value": "on"}]; hooks: {"7": "on"}
        custom = {str(item.get("id")): str(item.get("value") or "") for item in custom if isinstance(item, dict)}
    custom = mapping(custom, f"{where}{key}")
    preferences = mapping(row.get("email_preferences"), f"{where}email_preferences")

    def field(name: str) -> str:
        return text(row.get(name), f"{where}{name}")

    return Client(
        id=str(client_id),
        firstname=field("firstname"),
        lastname=field("lastname"),
        companyname=field("companyname"),
        email=field("email"),
        phonenumber=field("phonenumber"),
        phonecc=field("phonecc"),
        country=field("countrycode") or field("country"),
        language=field("language"),
        groupid=number(row.get("groupid"), f"{where}groupid"),
        currency_code=field("currency_code"),
        email_preferences={str(k): _truthy(v) for k, v in preferences.items()},
        custom_fields={str(k): text(v, f"{where}{key}.{k}") for k, v in custom.items()},
    )


def _no_zero(value: str) -> str:
    return "" if value in ("", "0") else value


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "on", "yes")
