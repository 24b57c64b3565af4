"""What the hooks know about an event once the planner has looked it up: plain values.

The planner (bridge.planning.planner) fills these from the hook's own parameters and, when the
WHMCS API is configured, from WHMCS itself. Any of them may be None when neither source
had it; the hooks turn that into a skipped Action with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Client:
    id: str
    firstname: str = ""
    lastname: str = ""
    companyname: str = ""
    email: str = ""
    phonenumber: str = ""
    phonecc: str = ""
    country: str = ""
    language: str = ""
    groupid: int = 0
    currency_code: str = ""
    # WHMCS email preferences: general, invoice, product, domain, support, affiliate.
    email_preferences: dict[str, bool] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}".strip()


@dataclass(frozen=True)
class Contact:
    id: str
    firstname: str
    lastname: str
    email: str
    # Which kinds of email WHMCS sends this contact: general, invoice, product, domain.
    receives: frozenset[str] = frozenset()
    phonenumber: str = ""  # as typed in WHMCS: how a contact's WhatsApp message finds the client


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    client_id: str = ""
    total: Decimal | None = None
    balance: Decimal | None = None
    currency_code: str = ""
    due_date: date | None = None
    date_paid: date | None = None
    status: str = ""
    payment_method: str = ""  # the gateway's module name (pagos360, banktransfer, ...)
    notes: str = ""  # staff's notes on the invoice (the bridge marks a rejected card debit there)


@dataclass(frozen=True)
class Service:
    id: str
    name: str = ""
    domain: str = ""
    suspend_reason: str = ""
    # From GetClientsProducts, when the event's hooks asked for the billing ("service_billing").
    next_due_date: date | None = None
    payment_method: str = ""
    status: str = ""


@dataclass(frozen=True)
class OrderLine:
    """One product of an order, as GetOrders lists it, with the product id and group that
    GetClientsProducts gives its service (the activation policy is per product and group)."""

    service_id: str
    product: str  # WHMCS's "Group - Product" label
    domain: str = ""
    pid: str = ""
    group: str = ""
    kind: str = "product"  # GetOrders' line type: product, domain, addon, ...


@dataclass(frozen=True)
class Order:
    id: str
    number: str
    client_id: str = ""
    status: str = ""
    payment_method: str = ""  # the gateway's module name (pagos360, banktransfer, ...)
    payment_method_name: str = ""
    invoice_id: str = ""
    total: Decimal | None = None
    lines: tuple[OrderLine, ...] = ()
    # Whether the client had an active service or a paid invoice before this order (None:
    # not asked: no WHMCS API).
    returning: bool | None = None


@dataclass(frozen=True)
class Admin:
    """A WHMCS admin user (GetAdminUsers): the one a ticket is flagged to."""

    id: str
    name: str
    email: str
    language: str = ""


@dataclass(frozen=True)
class Quote:
    id: str
    subject: str = ""
    total: Decimal | None = None
    valid_until: date | None = None
    client_id: str = ""  # "": a lead's quote (a prospect with no client account)
    stage: str = ""
    lead_name: str = ""
    lead_email: str = ""


@dataclass(frozen=True)
class Ticket:
    """A WHMCS support ticket (GetTicket), and the WhatsApp conversation that opened it, if
    one did (the bridge's own record)."""

    id: str
    number: str = ""  # the `tid` the client sees
    code: str = ""  # `c`: opens the ticket in the client area
    client_id: str = ""
    status: str = ""
    subject: str = ""
    whatsapp_number: str = ""
    conversation_id: int | None = None
    department_id: str = ""
    department_name: str = ""
    priority: str = ""
    flagged_admin_id: str = ""  # GetTicket's `flag`: the admin it is flagged to ("" none)
    contact_id: str = ""  # the client's contact who opened it ("" the client, or a guest)
    requester: str = ""  # who wrote it: name and email, for a guest ticket too


@dataclass(frozen=True)
class Sender:
    """Who wrote a WhatsApp message to the company, as the bridge's own records know them:
    the number (E.164), the WHMCS clients seen with it (none, one, or several: then nobody
    is guessed), whether it opted out, and the conversation it continues."""

    number: str
    client_ids: tuple[str, ...] = ()
    opted_out: bool = False
    # The WHMCS ticket this conversation opened, while the conversation lasts (the ticket
    # still open, a message either way in the last 24 hours); "" starts a new one.
    ticket_id: str = ""


@dataclass(frozen=True)
class EventData:
    client: Client | None = None
    contacts: tuple[Contact, ...] = ()
    invoice: Invoice | None = None
    service: Service | None = None
    quote: Quote | None = None
    domain_name: str = ""
    # Card direct debit (Pagos360 events): the entity read back, and the WHMCS group
    # that exempts signed clients from suspension.
    adhesion: Adhesion | None = None
    debit: Debit | None = None
    debit_group_id: int | None = None
    # A customer's WhatsApp message (Twilio inbound events): who wrote.
    sender: Sender | None = None
    ticket: Ticket | None = None
    order: Order | None = None
    flagged_admin: Admin | None = None
    debit_standing: DebitStanding | None = None
    # A WHMCS 8 user's event (UserChangePassword): the clients that user belongs to.
    user_clients: tuple[Client, ...] = ()
    # Why `client` is None, for the skip reason.
    missing: str = ""
    lookups: tuple[str, ...] = ()


@dataclass(frozen=True)
class DebitStanding:
    """What the bridge's own records say of a client's card direct debit (the "debit_standing"
    need): a signed adhesion still in the debit group, whose debit cycle will ask for the
    event's invoice; and whether a debit for that invoice was rejected."""

    signed: bool = False
    invoice_rejected: bool = False


@dataclass(frozen=True)
class Adhesion:
    """A Pagos360 card adhesion as its API describes it, with the bridge's own record."""

    pagos360_id: str
    state: str
    client_id: str
    state_comment: str = ""
    card_brand: str = ""
    last_four: str = ""
    debit_day: int | None = None
    previous_group_id: int | None = None


@dataclass(frozen=True)
class Debit:
    """A Pagos360 card debit request as its API describes it."""

    pagos360_id: str
    state: str
    client_id: str
    invoice_id: str
    amount: Decimal | None = None
    state_comment: str = ""
    paid_at: str = ""  # as Pagos360 wrote it, ISO 8601 with offset
    adhesion_id: str = ""
    # The bridge's own request for this debit (bridge.scheduled.debit_cycle), when it made it: the
    # amount it asked for and the invoice it was for. None: made by hand in Pagos360.
    requested_amount: Decimal | None = None
    requested_invoice_id: str = ""
    # Why the invoice the debit names could not be read (it does not exist in WHMCS).
    invoice_problem: str = ""
    # Its payment into WHMCS as bridge.work.payments has it: "" (none yet), "claimed" (being
    # added, or its outcome unknown) or "done"; and the Action that claimed it.
    payment_state: str = ""
    payment_action: int | None = None
    # The client's latest cycles in a row whose debits were all rejected; and whether this
    # notification took them out of the debit group (bridge.store.debit_outcomes), back to:
    rejected_cycles: int = 0
    leaves_debit_group: bool = False
    previous_group_id: int | None = None
