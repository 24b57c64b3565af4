"""The bridge's tables: Event, Action, ActionTransition, Attempt.

An Event is one thing that happened (a WHMCS hook, a Pagos360 notification), stored
redacted. Its Actions are what the hooks decided to do about it (the outbox). Each
Attempt is one try at an Action against a provider; each ActionTransition one move of
its state machine, with the reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# BIGINT on PostgreSQL (a busy panel outgrows 2^31 attempts), INTEGER on SQLite so that
# the primary key stays the rowid alias and autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def string_width(model: type[Base], column: str) -> int:
    """The declared width of `column`, a bounded String column of `model`'s table.

    Read from the model, so a migration that widens a column widens what the checks that
    call this accept. TypeError for a column without a width (Text, a number): checking a
    length against it would be a mistake of the caller.
    """
    column_type = model.__table__.c[column].type
    if not isinstance(column_type, String) or column_type.length is None:
        raise TypeError(f"{model.__name__}.{column} is not a String column with a width")
    return column_type.length


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_events_source_external_id"),
        Index("ix_events_received_at_id", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # "whmcs", "pagos360"
    type: Mapped[str] = mapped_column(String(64), index=True)  # "ClientAdd", ...
    external_id: Mapped[str] = mapped_column(String(255))  # webhook-id, notification id
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # redacted
    # What the log page's search box matches (bridge.store.search): indexed, unlike the payload.
    search_text: Mapped[str | None] = mapped_column(Text)

    actions: Mapped[list[Action]] = relationship(back_populates="event", order_by="Action.id")


class Action(Base):
    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_state_next_attempt_at", "state", "next_attempt_at"),
        # The log's state filter: "events with a failed action" without visiting every event.
        Index("ix_actions_state_event_id", "state", "event_id"),
        # The log's chart: actions per hour by state, read from the index alone.
        Index("ix_actions_created_at_state", "created_at", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    hook: Mapped[str] = mapped_column(String(128))  # the handler that planned it
    channel: Mapped[str] = mapped_column(String(32))  # "whatsapp", "email", ...
    recipient: Mapped[str] = mapped_column(String(320), index=True)  # the log's search by email or phone
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # rendered: body, subject, template sid...
    # No default: whoever stores an Action says in which state (bridge.store.outbox.store_planned).
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # A staff replay: the planning Action this one re-runs (the Actions it plans follow it).
    replay_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("actions.id", ondelete="SET NULL", name="fk_actions_replay_of_id")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(back_populates="actions")
    transitions: Mapped[list[ActionTransition]] = relationship(order_by="ActionTransition.id")
    attempt_rows: Mapped[list[Attempt]] = relationship(order_by="Attempt.id")


class ActionTransition(Base):
    __tablename__ = "action_transitions"
    # An Action's transitions in order, and its latest one (bridge.store.transitions.move) in
    # one probe: on action_id alone PostgreSQL may walk the primary key backwards instead.
    __table_args__ = (Index("ix_action_transitions_action_id_id", "action_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    duration_ms: Mapped[float | None] = mapped_column()
    # "sent", "dry_run", "transient_error", "permanent_error"; NULL while in flight
    outcome: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)


class CardAdhesion(Base):
    """The bridge's mirror of a Pagos360 card adhesion, as last read from Pagos360's API.

    Never a card number: only the brand and the last four digits Pagos360 shows.
    """

    __tablename__ = "card_adhesions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pagos360_id: Mapped[str] = mapped_column(String(64), unique=True)
    whmcs_client_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(32))  # pending_to_sign, signed, canceled
    state_comment: Mapped[str | None] = mapped_column(Text)
    card_brand: Mapped[str | None] = mapped_column(String(32))
    last_four: Mapped[str | None] = mapped_column(String(4))
    debit_day: Mapped[int | None] = mapped_column(Integer)  # 1..31; clamped to short months
    previous_group_id: Mapped[int | None] = mapped_column(Integer)  # to restore on cancellation
    signed_on: Mapped[date | None] = mapped_column(Date)
    # Set when the client left the debit group after their debits were rejected cycle after
    # cycle (routing's [reminders] rejected_cycles): the debit cycle asks nothing more of it.
    left_group_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DebitRequest(Base):
    """One card debit for one WHMCS invoice in one cycle: the unique key is the guarantee
    that a cycle run twice, or restarted after a crash, asks Pagos360 only once."""

    __tablename__ = "debit_requests"
    __table_args__ = (UniqueConstraint("invoice_id", "cycle", name="uq_debit_requests_invoice_cycle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(7))  # "2026-11": the month of the debit day
    adhesion_pagos360_id: Mapped[str] = mapped_column(String(64), index=True)
    whmcs_client_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # How Pagos360 said it ended: "paid", or "rejected" (rejected, expired, canceled); None
    # while no notification told.
    outcome: Mapped[str | None] = mapped_column(String(16))


class DebitPayment(Base):
    """The claim on adding one Pagos360 debit's payment to WHMCS: one row per debit request.

    The unique key is the guard that no interleaving of workers, notifications or retries
    pays a debit twice: a worker inserts the row (`claimed`, naming its Action and attempt)
    in a committed transaction before it calls AddInvoicePayment, and marks it `done` after.
    A `claimed` row whose attempt is closed belongs to a worker that died (or never heard
    back): whoever finds it asks WHMCS whether the payment is on the invoice, never pays again.
    """

    __tablename__ = "debit_payments"
    __table_args__ = (UniqueConstraint("pagos360_id", name="uq_debit_payments_pagos360_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pagos360_id: Mapped[str] = mapped_column(String(64))  # the debit request: the payment's transid
    invoice_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    state: Mapped[str] = mapped_column(String(16))  # "claimed", "done"
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="SET NULL"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)  # how it ended: added, or found on the invoice
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OrderActivation(Base):
    """The claim on accepting one WHMCS order (AcceptOrder with auto-setup): one row per order.

    As for payments, the unique key is the guard: of two Actions for one order (OrderPaid
    fired twice, a replay, a retry racing a slow WHMCS), only the one that inserted the row
    calls AcceptOrder, and WHMCS provisions the service once. A `claimed` row whose attempt
    is closed is taken over only after GetOrders says the order is still Pending.
    """

    __tablename__ = "order_activations"
    __table_args__ = (UniqueConstraint("order_id", name="uq_order_activations_order_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # "claimed", "done"
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="SET NULL"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempts.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)  # how it ended: accepted, or found active
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ServiceCancellation(Base):
    """A client's request to cancel a service (WHMCS's CancellationRequest), as the debit cycle
    needs it: no more card debits for that service's invoices, at once (`immediate`) or for
    those due after `ends_on` (end of the billing period). One row per service: a second
    request for it replaces the first."""

    __tablename__ = "service_cancellations"

    service_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    immediate: Mapped[bool] = mapped_column(Boolean)
    ends_on: Mapped[date | None] = mapped_column(Date)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduledNotice(Base):
    """One notice a client is to hear in their day's scheduled message (ScheduledNotices):
    an invoice's payment reminder or overdue notice (InvoicePaymentReminder), or a domain or
    service that renews or expires at one of routing's lead days (the renewal scan).

    `key` is unique: one notice per invoice and kind, per item and lead day, whatever WHMCS
    resends or however often a scan runs. `event_id` is the ScheduledNotices event that told
    the client (None: not told yet); it is set in the transaction that records that event, so
    two relays never send one notice twice."""

    __tablename__ = "scheduled_notices"
    __table_args__ = (UniqueConstraint("key", name="uq_scheduled_notices_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160))  # e.g. reminder:88231:firstoverdue, domain:9120:2026-12-02:7
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # the line it is told with (line_<kind>)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)  # what the line says: number, dates, amount
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)


class HealthCheck(Base):
    """The last result of a check of WHMCS's set-up that /readyz reports as a warning (the
    debit group's "exempt from suspend and terminate"): one row per check."""

    __tablename__ = "health_checks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduledRun(Base):
    """A daily job's run for one day: the unique key makes it run once across relays."""

    __tablename__ = "scheduled_runs"
    __table_args__ = (UniqueConstraint("name", "day", name="uq_scheduled_runs_name_day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    summary: Mapped[str | None] = mapped_column(Text)


class StaffUser(Base):
    """A person who may open the delivery log. Only an argon2 hash of the password is kept."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lowercased
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginFailure(Base):
    """One of the LOGIN_MAX_FAILURES attempt slots of an (email, address): taken before the
    password is checked, kept when it was wrong, cleared by a right one.

    The unique (email, address, slot) key is what makes the limit exact across processes:
    two requests cannot take the same slot, so at most LOGIN_MAX_FAILURES passwords are
    checked per window however many arrive at once (bridge.logpage.login_limit).
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_address_at", "email", "address", "at"),
        UniqueConstraint("email", "address", "slot", name="uq_login_failures_email_address_slot"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(Integer)  # 1..LOGIN_MAX_FAILURES
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffSession(Base):
    """One logged-in browser. The cookie carries a random token; only its SHA-256 is kept.

    Every request looks its row up (bridge.logpage.auth's user loader), so deleting the row
    ends the session at the next request: logging out, a new password, a deactivation.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """What a staff member did on the log page: reveal a recipient, retry, replay."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    staff_email: Mapped[str] = mapped_column(String(320))  # kept if the account is removed
    verb: Mapped[str] = mapped_column(String(32))  # "reveal", "retry", "replay", "retry-filtered"
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A token for the read-only JSON API. Only its SHA-256 is kept; the CLI shows it once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by `flask revoke-api-token`: the row stays, for `list-api-tokens`, but opens nothing.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WhatsAppTemplate(Base):
    """One version of one event's WhatsApp template in one language, as Twilio's Content API
    holds it (bridge.scheduled.template_sync makes and follows them).

    Content resources cannot change: a new text is a new version, and the last approved
    version keeps being used until WhatsApp approves the new one. The unique keys make a
    second sync a no-op whoever runs it: one row per (event, language, digest of the text),
    one per (event, language, version).
    """

    __tablename__ = "whatsapp_templates"
    __table_args__ = (
        UniqueConstraint("event_type", "language", "digest", name="uq_whatsapp_templates_event_language_digest"),
        UniqueConstraint("event_type", "language", "version", name="uq_whatsapp_templates_event_language_version"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))  # WhatsApp's template name, e.g. invoice_created_es_v1
    body: Mapped[str] = mapped_column(Text)  # "Hola {{1}}, …"
    variables: Mapped[list[str]] = mapped_column(JSON)  # the names behind {{1}}, {{2}}, …
    content_sid: Mapped[str | None] = mapped_column(String(34))  # HX…; None until Twilio made it
    # Twilio's approval states (received, pending, approved, rejected, paused, disabled),
    # plus `unsubmitted` before the bridge asked and `failed` when Twilio refused to create it.
    status: Mapped[str] = mapped_column(String(16), default="unsubmitted")
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)  # made with no Twilio credentials
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # last asked Twilio
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WhatsAppNumber(Base):
    """What the bridge knows of one WhatsApp number (E.164): when its owner last wrote, which
    opens WhatsApp's 24-hour window for free-form messages, and whether they opted out.

    Written only by single statements (an upsert that keeps the latest message time; a
    consent change), so two workers or web processes never lose each other's update."""

    __tablename__ = "whatsapp_numbers"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_keyword: Mapped[str] = mapped_column(String(32), default="")  # the word that changed it


class KnownPhone(Base):
    """A phone number the bridge has seen for a WHMCS client, in an event or a look-up: how
    a customer's WhatsApp message is matched to a client (WHMCS's API cannot search clients
    by phone). One number may belong to several clients; the match then names them all."""

    __tablename__ = "known_phones"
    __table_args__ = (UniqueConstraint("number", "client_id", name="uq_known_phones_number_client_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WhatsAppConversation(Base):
    """A customer's WhatsApp conversation with the company, and the WHMCS ticket it opened:
    from their first message until the ticket is closed or 24 hours pass without a message
    either way (bridge.work.whatsapp_tickets). Staff answers to that ticket go back to the
    number (hooks/tickets.py)."""

    __tablename__ = "whatsapp_conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[str] = mapped_column(String(32), index=True)  # GetTicket's ticketid
    ticket_number: Mapped[str] = mapped_column(String(32))  # the `tid` the client sees
    ticket_code: Mapped[str] = mapped_column(String(32), default="")  # `c`: opens it in the client area
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
