"""What the list, the detail page, the exports and the bulk retry read: only SELECTs.

The list is paged by keyset on (received_at, id), newest first, which the index
ix_events_received_at_id serves at any depth; an OFFSET would read every skipped row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from bridge.core.event_fields import EventShapeError
from bridge.core.phones import whatsapp_number
from bridge.core.settings import Settings
from bridge.core.states import State
from bridge.core.whmcs_params import hook_fields
from bridge.logpage.filters import Filters
from bridge.logpage.ids import BadId, parse_id
from bridge.store.models import Action, ActionTransition, Attempt, AuditEntry, Event

PAGE_SIZE = 50
# The Actions looked into by an event's EXISTS filters: an alias, so that the subquery
# stays its own when the outer query also reads `actions` (counts, exports).
_Sub = aliased(Action, name="sub_actions")
_PHONEISH = re.compile(r"^[+\d][\d\s().-]{5,}$")
_SID = re.compile(r"^(?:[A-Z]{2}[0-9a-f]{32}|dry-run-[0-9a-f]{8,})$")  # Twilio's SM…/MM…, the dry runs'
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ActionSummary:
    id: int
    channel: str
    state: str
    dry_run: bool


@dataclass
class EventRow:
    id: int
    received_at: datetime
    source: str
    type: str
    client_id: str | None
    client_name: str
    actions: list[ActionSummary] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    rows: list[EventRow]
    next_cursor: str | None  # the `before` of the next (older) page, None on the last


def event_conditions(filters: Filters, settings: Settings) -> list[ColumnElement[bool]]:
    """WHERE clauses on Event for the filters (the state and channel ones through its Actions).

    Dates are read in the company's time zone, phone numbers in its default region."""
    where: list[ColumnElement[bool]] = []
    if filters.source:
        where.append(Event.source == filters.source)
    if filters.type:
        where.append(Event.type == filters.type)
    if filters.client_id:
        where.append(Event.client_id == filters.client_id)
    start, end = filters.window(settings.tz)
    if start is not None:
        where.append(Event.received_at >= start)
    if end is not None:
        where.append(Event.received_at < end)
    action_where = action_conditions(filters, _Sub)
    if action_where:
        where.append(exists().where(_Sub.event_id == Event.id, *action_where))
    if filters.q:
        where.extend(_search(filters.q, settings.default_phone_region))
    return where


def action_conditions(filters: Filters, action: Any = Action, *, state: bool = True) -> list[ColumnElement[bool]]:
    """The filters that are about Actions rather than Events (`state=False`: all but the state)."""
    where: list[ColumnElement[bool]] = []
    if filters.state and state:
        where.append(action.state == filters.state)
    if filters.channel:
        where.append(action.channel == filters.channel)
    return where


def _search(query: str, region: str) -> list[ColumnElement[bool]]:
    """What the search box matches. A message sid, an email address or a phone number is
    looked up by the index on the Actions (provider_ref, recipient): fast at any size. A phone
    number is one term however it is typed ("0351 15 555-1234", "+54 9 351…"): normalised as
    the hooks do (bridge.core.phones) to the E.164 form the recipients are stored in.

    Anything else is split into words that must each match somewhere: the event id, the
    client id, or the event's search words (bridge.store.search: names, emails, phones, invoice
    numbers, filled at intake and by the planner), a trigram-indexed column on PostgreSQL.
    """
    query = query.strip()
    if _SID.match(query):
        return [exists().where(_Sub.event_id == Event.id, _Sub.provider_ref == query)]
    if _EMAIL.match(query):
        return [exists().where(_Sub.event_id == Event.id, _Sub.recipient.in_({query, query.lower()}))]
    if _PHONEISH.match(query) and sum(ch.isdigit() for ch in query) >= 6 and not query.isdigit():
        number = whatsapp_number(query, country=region)
        if number:
            return [exists().where(_Sub.event_id == Event.id, _Sub.recipient == number)]
        digits = "".join(ch for ch in query if ch.isdigit())
        return [exists().where(_Sub.event_id == Event.id, _Sub.recipient.like(f"%{digits}%"))]
    return [_term(term) for term in query.split()[:8]]


def _term(term: str) -> ColumnElement[bool]:
    if term.isascii() and term.isdigit():  # not "²" nor "٣": words like any other
        return _number(term)
    # One indexed column only: an OR with another column or an EXISTS would keep
    # PostgreSQL from using the trigram index (1.1 s instead of 25 ms on 1M events). The
    # webhook id is among the words; client ids are numbers and sids are caught above.
    return Event.search_text.like("%" + _escape(term.lower()) + "%", escape="\\")


def _number(term: str) -> ColumnElement[bool]:
    """A number matches whole values only (an event id, a client or invoice id), not every
    event whose words happen to contain its digits: the search words are space-delimited."""
    try:
        by_id = Event.id == parse_id(term)
    except BadId:  # no event has that id; the database must not be asked (it would raise)
        by_id = false()
    return or_(
        by_id,
        Event.client_id == term,
        Event.search_text.like(f"% {term} %"),
    )


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(row: EventRow) -> str:
    return f"{row.received_at.isoformat()}_{row.id}"


class BadCursor(ValueError):
    """A `before` / `before_id` the bridge did not make; the message says what is wrong
    (without repeating the value). The views answer it with 400."""


def decode_cursor(value: str) -> tuple[datetime, int] | None:
    """The (received_at, id) an events page's `before=` names, or None if empty (the first page).

    Raises BadCursor for anything but encode_cursor's form: an ISO time with its zone that
    UTC can hold (the column's type converts to UTC) and an id the id column can hold.
    """
    if not value:
        return None
    when, _, ident = value.rpartition("_")
    expected = "not a cursor (<ISO time with zone>_<event id>, as in the next page's link)"
    try:
        moment = datetime.fromisoformat(when)
    except ValueError:
        raise BadCursor(f"before: {expected}") from None
    if moment.tzinfo is None:
        raise BadCursor("before: the time has no time zone")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise BadCursor("before: time out of range (years 1 to 9999 in UTC)") from None
    if not (ident.isascii() and ident.isdigit()):
        raise BadCursor(f"before: {expected}")
    try:
        event_id = parse_id(ident)
    except BadId as exc:  # digits, but beyond the id column's range
        raise BadCursor(f"before: {exc}") from None
    return moment, event_id


def decode_id_cursor(value: str, name: str) -> int | None:
    """The id an API page's `before_id=` (`name`) names, or None if empty; else BadCursor."""
    if not value:
        return None
    try:
        return parse_id(value)
    except BadId as exc:
        raise BadCursor(f"{name}: {exc}") from None


def events_page(
    session: Session, filters: Filters, settings: Settings, before: str = "", size: int = PAGE_SIZE
) -> Page:
    """One page of events, newest first, older than the `before` cursor; BadCursor if malformed."""
    query = select(Event.id, Event.received_at, Event.source, Event.type, Event.client_id, Event.payload).where(
        *event_conditions(filters, settings)
    )
    cursor = decode_cursor(before)
    if cursor is not None:
        moment, ident = cursor
        query = query.where(
            or_(Event.received_at < moment, and_(Event.received_at == moment, Event.id < ident)),
        )
    found = session.execute(query.order_by(Event.received_at.desc(), Event.id.desc()).limit(size + 1)).all()
    rows = [EventRow(r.id, r.received_at, r.source, r.type, r.client_id, client_name(r.payload)) for r in found[:size]]
    _attach_actions(session, rows)
    return Page(rows, encode_cursor(rows[-1]) if len(found) > size else None)


def _attach_actions(session: Session, rows: list[EventRow]) -> None:
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    actions = session.execute(
        select(Action.id, Action.event_id, Action.channel, Action.state, Action.dry_run)
        .where(Action.event_id.in_(by_id))
        .order_by(Action.id)
    )
    for a in actions:
        by_id[a.event_id].actions.append(ActionSummary(a.id, a.channel, a.state, a.dry_run))


def client_name(payload: dict[str, Any]) -> str:
    """The client's name as the event carries it (WHMCS params), or ""."""
    raw = payload.get("params") if isinstance(payload.get("params"), dict) else payload
    if not isinstance(raw, dict):
        return ""
    try:
        hook = hook_fields(raw)
        params = hook.fields if hook.fields.get("firstname") or hook.fields.get("companyname") else hook.client_details
    except EventShapeError:  # shown as it is on the event's page; the list shows no name
        return ""
    name = " ".join(str(params.get(k) or "").strip() for k in ("firstname", "lastname")).strip()
    company = str(params.get("companyname") or "").strip()
    return f"{name} ({company})" if name and company else name or company


COUNT_CAP = 10_000


def state_counts(session: Session, filters: Filters, settings: Settings) -> dict[str, int]:
    """Actions per state among the events the other filters select (the state filter itself
    is left out, so that the counts show where else to look).

    Each count stops at COUNT_CAP + 1 (shown as "10000+"): one capped index scan per state
    stays fast on any history, where an exact count of millions of rows would not. With a
    search, the few events it finds are counted exactly.
    """
    event_filters = Filters(**{**filters.to_args(), "state": "", "channel": ""})
    where = event_conditions(event_filters, settings)
    if filters.q:
        # A search selects few events but may have to read every payload to find them:
        # once, grouped, rather than once per state.
        grouped = (
            select(Action.state, func.count())
            .join(Event, Event.id == Action.event_id)
            .where(*where, *action_conditions(filters, Action, state=False))
            .group_by(Action.state)
        )
        found = dict(session.execute(grouped).tuples().all())
        return {s.value: found[s.value] for s in State if found.get(s.value)}
    counts: dict[str, int] = {}
    for state in State:
        query = select(Action.id).where(Action.state == state.value, *action_conditions(filters, Action, state=False))
        if where:
            query = query.join(Event, Event.id == Action.event_id).where(*where)
        n = session.scalar(select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery())) or 0
        if n:
            counts[state.value] = n
    return counts


def matching_actions(filters: Filters, settings: Settings) -> Select[Any]:
    """Actions (with their event) the filters select, newest event first: exports, bulk retry."""
    return (
        select(Action, Event)
        .join(Event, Event.id == Action.event_id)
        .where(*event_conditions(filters, settings), *action_conditions(filters))
        .order_by(Event.received_at.desc(), Event.id.desc(), Action.id)
    )


@dataclass
class EventDetail:
    event: Event
    actions: list[Action]
    transitions: dict[int, list[ActionTransition]]
    attempts: dict[int, list[Attempt]]
    audit: list[AuditEntry]


def event_detail(session: Session, event_id: int) -> EventDetail | None:
    event = session.get(Event, event_id)
    if event is None:
        return None
    actions = list(session.scalars(select(Action).where(Action.event_id == event_id).order_by(Action.id)))
    ids = [a.id for a in actions]
    transitions: dict[int, list[ActionTransition]] = {i: [] for i in ids}
    attempts: dict[int, list[Attempt]] = {i: [] for i in ids}
    if ids:
        for t in session.scalars(
            select(ActionTransition).where(ActionTransition.action_id.in_(ids)).order_by(ActionTransition.id)
        ):
            transitions[t.action_id].append(t)
        for a in session.scalars(select(Attempt).where(Attempt.action_id.in_(ids)).order_by(Attempt.id)):
            attempts[a.action_id].append(a)
    audit = list(session.scalars(select(AuditEntry).where(AuditEntry.event_id == event_id).order_by(AuditEntry.id)))
    return EventDetail(event, actions, transitions, attempts, audit)


def event_types(registry_types: Sequence[str], current: str) -> list[str]:
    """The event types for the filter's menu: those the hooks handle, and the one chosen.

    Not `SELECT DISTINCT type`: that reads the whole index on a large history."""
    return sorted({*registry_types, *([current] if current else [])})
